import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The OCI hooks every isolated RUN step gets (`buildah bud --hooks-dir`), and for the `egress`
 * network the files it bind-mounts.
 */
export interface StepHooks {
  /** Hooks for a step without a network: only the reaper (see stepHookScript). */
  isolatedHooksDir: string;
  /** The network a step reaches out through; null unless the host's network is egress. */
  egress: EgressFiles | null;
}

interface EgressFiles {
  /** The reaper plus the slirp4netns that gives each RUN step its own way out. */
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
 * step runs, with the container's state (its pid) on stdin.
 *
 * Its first job is that no step outlives the buildah that ran it. The step's owner is buildah's
 * runtime subprocess (`buildah-oci-runtime`, the parent of the `runc create` that calls the
 * hook): it starts the step and waits for it. A runner killed with -9 takes that buildah with it
 * (pdeathsig), but the step is no child of theirs: after `runc create` it belongs to init, and
 * before `runc start` it sits forever in `runc init`. So a watcher kills the step (its PID
 * namespace's init, so the whole namespace) once the owner is gone, and the hook refuses a step
 * whose owner is already gone.
 *
 * With `egress` it then attaches slirp4netns to the step's own network namespace: user-mode NAT
 * out to the network this host reaches, with `--disable-host-loopback`, so 10.0.2.2 (slirp's way
 * to the host's 127.0.0.1) leads nowhere and the step's 127.0.0.1 is its own. It returns once the
 * tap device is up (`--ready-fd`); the watcher ends slirp4netns with the step. Every descriptor of
 * what it leaves running is redirected: runc waits for the hook's output to close.
 */
function stepHookScript(script: string, slirp4netns: string, stateDir: string): string {
  return `#!/bin/sh
# Written by Kiln's build-runner; see packages/engine/src/isolation/step-hook.ts.
set -eu
# Fields of /proc/<pid>/stat after "pid (comm) ": 2 is the parent, 20 the start time.
stat_field() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }
if [ "$1" = watch ]; then
  pid="$2" owner="$3" started="$4" slirp="$5"
  while [ -e "/proc/$pid" ] && [ -e "/proc/$owner" ]; do sleep 0.2; done
  if [ -n "$slirp" ]; then kill "$slirp" 2>/dev/null || true; fi
  if [ -e "/proc/$pid" ] && [ "$(stat_field "$pid" 20)" = "$started" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  exit 0
fi
mode="$1"
pid=$(sed -n 's/.*"pid":[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p')
if [ -z "$pid" ]; then echo "kiln step hook: no pid in the container state" >&2; exit 1; fi
owner=$(stat_field "$PPID" 2)
if [ -z "$owner" ] || [ "$(tr '\\0' '\\n' <"/proc/$owner/cmdline" 2>/dev/null | head -n 1)" != "buildah-oci-runtime" ]; then
  echo "kiln step hook: the buildah that runs this step is gone" >&2
  exit 1
fi
started=$(stat_field "$pid" 20)
slirp=""
if [ "$mode" = egress ]; then
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
    echo "kiln step hook: slirp4netns could not give the build step a network: $(tail -n 1 "$errors" 2>/dev/null)" >&2
    rm -f "$errors"
    kill "$slirp" 2>/dev/null || true
    exit 1
  fi
  rm -f "$errors"
fi
# A session of its own: buildah's process group is killed when buildah ends, the watcher must not be.
setsid ${shellQuote(script)} watch "$pid" "$owner" "$started" "$slirp" </dev/null >/dev/null 2>&1 &
exit 0
`;
}

/**
 * Writes the hook and its two hooks dirs under `dir` (owner-only), and with a slirp4netns the
 * files egress steps bind-mount.
 */
export async function writeStepHooks(dir: string, slirp4netns: string | null): Promise<StepHooks> {
  const stateDir = join(dir, "hook-state");
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const script = join(dir, "step-hook.sh");
  await writeFile(script, stepHookScript(script, slirp4netns ?? "slirp4netns", stateDir), {
    mode: 0o700,
  });
  await chmod(script, 0o700);
  const isolatedHooksDir = await writeHooksDir(join(dir, "hooks-isolated.d"), script, "isolated");
  if (!slirp4netns) return { isolatedHooksDir, egress: null };
  const hooksDir = await writeHooksDir(join(dir, "hooks-egress.d"), script, "egress");
  const resolvConf = join(dir, "resolv.conf");
  const hosts = join(dir, "hosts");
  // Read by buildah (this user) to bind them; the step sees them read-only.
  await writeFile(resolvConf, `nameserver ${slirpDns}\n`, { mode: 0o644 });
  await writeFile(hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", {
    mode: 0o644,
  });
  return { isolatedHooksDir, egress: { hooksDir, resolvConf, hosts } };
}

async function writeHooksDir(
  hooksDir: string,
  script: string,
  mode: "isolated" | "egress",
): Promise<string> {
  await mkdir(hooksDir, { recursive: true, mode: 0o700 });
  const hook = {
    version: "1.0.0",
    hook: { path: script, args: ["step-hook.sh", mode] },
    when: { always: true },
    stages: ["createRuntime"],
  };
  await writeFile(join(hooksDir, "kiln-step.json"), `${JSON.stringify(hook)}\n`, { mode: 0o600 });
  return hooksDir;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
