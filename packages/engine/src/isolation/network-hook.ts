import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Files a build's RUN steps get for the `egress` network: the hook that wires it, DNS and hosts. */
export interface SandboxFiles {
  /** `--hooks-dir` for `buildah bud`: the OCI hook that gives each RUN step its slirp4netns. */
  hooksDir: string;
  /** Bind-mounted read-only as the step's `/etc/resolv.conf`: slirp4netns's DNS forwarder. */
  resolvConf: string;
  /** Bind-mounted read-only as the step's `/etc/hosts`: localhost only, never this host's names. */
  hosts: string;
}

/** slirp4netns's built-in DNS forwarder, as its `--configure` sets the namespace up (10.0.2.0/24). */
const slirpDns = "10.0.2.3";

/**
 * The OCI `createRuntime` hook: runc calls it once the RUN step's namespaces exist and before the
 * step runs, with the container's state (its pid) on stdin. It attaches slirp4netns to the
 * step's own network namespace: user-mode NAT out to the network this host reaches, with
 * `--disable-host-loopback`, so 10.0.2.2 (slirp's way to the host's 127.0.0.1) leads nowhere and
 * the step's 127.0.0.1 is its own. It returns once the tap device is up (`--ready-fd`), and a
 * watcher ends slirp4netns when the step's process is gone. Every descriptor of what it leaves
 * running is redirected: runc waits for the hook's output to close.
 */
function networkHookScript(slirp4netns: string, stateDir: string): string {
  return `#!/bin/sh
# Written by Kiln's build-runner; see packages/engine/src/isolation/network-hook.ts.
set -eu
pid=$(sed -n 's/.*"pid":[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p')
if [ -z "$pid" ]; then echo "kiln network hook: no pid in the container state" >&2; exit 1; fi
ready="${stateDir}/ready.$pid"
errors="${stateDir}/slirp4netns.$pid.log"
rm -f "$ready"
mkfifo -m 600 "$ready"
${shellQuote(slirp4netns)} --configure --mtu=65520 --disable-host-loopback --enable-sandbox --enable-seccomp --ready-fd=3 "$pid" tap0 3>"$ready" </dev/null >/dev/null 2>"$errors" &
slirp=$!
up=""
read -r up <"$ready" || true  # slirp4netns writes "1" without a newline
rm -f "$ready"
if [ "$up" != "1" ]; then
  echo "kiln network hook: slirp4netns could not give the build step a network: $(tail -n 1 "$errors" 2>/dev/null)" >&2
  rm -f "$errors"
  kill "$slirp" 2>/dev/null || true
  exit 1
fi
rm -f "$errors"
(while [ -e "/proc/$pid" ]; do sleep 0.2; done; kill "$slirp" 2>/dev/null) </dev/null >/dev/null 2>&1 &
exit 0
`;
}

/** Writes the hook, its hooks.d entry and the two bind-mounted files under `dir` (owner-only). */
export async function writeSandboxFiles(dir: string, slirp4netns: string): Promise<SandboxFiles> {
  const hooksDir = join(dir, "hooks.d");
  const stateDir = join(dir, "hook-state");
  await mkdir(hooksDir, { recursive: true, mode: 0o700 });
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const script = join(dir, "network-hook.sh");
  await writeFile(script, networkHookScript(slirp4netns, stateDir), { mode: 0o700 });
  await chmod(script, 0o700);
  const hook = {
    version: "1.0.0",
    hook: { path: script, args: ["network-hook.sh"] },
    when: { always: true },
    stages: ["createRuntime"],
  };
  await writeFile(join(hooksDir, "kiln-network.json"), `${JSON.stringify(hook)}\n`, {
    mode: 0o600,
  });
  const resolvConf = join(dir, "resolv.conf");
  const hosts = join(dir, "hosts");
  // Read by buildah (this user) to bind them; the step sees them read-only.
  await writeFile(resolvConf, `nameserver ${slirpDns}\n`, { mode: 0o644 });
  await writeFile(hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", {
    mode: 0o644,
  });
  return { hooksDir, resolvConf, hosts };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
