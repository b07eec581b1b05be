import { afterEach, expect } from "vitest";
import { integrationTest as test } from "@kiln/testing";
import {
  api,
  finished,
  startKiln,
  waitForBuild,
  type RunningKiln,
} from "../support/kiln-services.js";

// A host that cannot contain builds gets no builds: the build-runner refuses to start, with one
// line naming the missing piece and the command that fixes it, and falls back to nothing.

let running: RunningKiln | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** The build-runner alone, started as `kiln up` starts it; what its failed start says. */
async function refusal(options: Parameters<typeof startKiln>[0]): Promise<string> {
  try {
    running = await startKiln({ ...options, services: ["build-runner"] });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the build-runner started");
}

// Only a runner started as root chooses its build user; as another user, builds run as that user.
test.skipIf(process.getuid?.() !== 0)(
  "a build user without subordinate ids: the runner refuses to start and prints the usermod line that fixes it",
  async ({ infra, database, subjectPrefix }) => {
    // `nobody` exists everywhere and has no range in /etc/subuid.
    const message = await refusal({
      infra,
      databaseUrl: database.url,
      subjectPrefix,
      extraEnv: { BUILD_RUNNER_BUILD_USER: "nobody" },
    });
    expect(message).toMatch(
      /build-runner: failed to start: cannot run isolated builds: subordinate ids: nobody has no subordinate uid and gid range in \/etc\/subuid and \/etc\/subgid.*; fix: sudo usermod --add-subuids \d+-\d+ --add-subgids \d+-\d+ nobody/,
    );
  },
);

test("an OCI runtime that cannot run a container, or none at all: the runner refuses, naming it", async ({
  infra,
  database,
  subjectPrefix,
}) => {
  const broken = await refusal({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_OCI_RUNTIME: "/bin/false" },
  });
  expect(broken).toMatch(
    /cannot run isolated builds: OCI runtime: .*; fix: \/bin\/false cannot run a container here: install runc/,
  );
  const missing = await refusal({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_OCI_RUNTIME: "/opt/no-such/runc" },
  });
  expect(missing).toMatch(
    /cannot run isolated builds: runc: \/opt\/no-such\/runc is not installed; fix: sudo apt-get install runc/,
  );
});

test("chroot isolation only when asked for by name: the runner warns, and every build's log starts saying so", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { BUILD_RUNNER_ISOLATION: "chroot-unsafe" },
  });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "unsafe" },
        spec: {
          source: { dockerfile: `FROM ${baseImage.ref}\nRUN true\n` },
          strategy: { type: "Docker" },
        },
      },
    ],
  });
  await call("POST", "/apis/v1/namespaces/default/buildconfigs/unsafe/instantiate", {});
  expect((await waitForBuild(call, "unsafe-1", finished)).status.phase).toBe("Complete");
  const log = (await call("GET", "/apis/v1/namespaces/default/builds/unsafe-1/log")).text;
  expect(log.split("\n")[0]).toMatch(
    /^WARNING: chroot isolation \(BUILD_RUNNER_ISOLATION=chroot-unsafe.*no security boundary/,
  );
});
