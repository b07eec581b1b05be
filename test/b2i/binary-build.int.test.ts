import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect } from "nats";
import { afterEach, expect } from "vitest";
import {
  buildahArgs,
  integrationTest as test,
  tarBytes,
  type BaseImage,
  natsAdminOptions,
} from "@kiln/testing";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";
import { kiln } from "../support/cli.js";
import { workDirLeftovers } from "../support/runner-store.js";

const exec = promisify(execFile);

/** The BuildConfigs below live in `default` and push to the `b2i` namespace, which grants it. */
const pushToB2i = {
  apiVersion: "kiln.dev/v1",
  kind: "ImageStreamGrant",
  metadata: { name: "default-pushes", namespace: "b2i" },
  spec: { grantee: { namespace: "default" }, access: ["push"] },
};

function binaryBuildConfig(
  name: string,
  registry: string,
  extra: { dockerfile?: string; asFile?: string } = {},
) {
  return {
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name },
    spec: {
      source: {
        type: "Binary",
        binary: extra.asFile ? { asFile: extra.asFile } : {},
        ...(extra.dockerfile ? { dockerfile: extra.dockerfile } : {}),
      },
      strategy: { type: "Docker", dockerStrategy: {} },
      output: { to: { kind: "DockerImage", name: `${registry}/b2i/${name}:latest` } },
    },
  };
}

/** Runs a command in the pushed image (as the e2e test does) and returns its stdout. */
async function runInImage(
  baseImage: BaseImage,
  imageReference: string,
  command: string[],
): Promise<string> {
  const buildah = buildahArgs(baseImage.storageDir);
  const { stdout: ctr } = await exec("buildah", [
    ...buildah,
    "from",
    "--tls-verify=false",
    "--authfile",
    baseImage.authFile,
    imageReference,
  ]);
  try {
    const { stdout } = await exec("buildah", [
      ...buildah,
      "run",
      "--isolation",
      "chroot",
      ctr.trim(),
      "--",
      ...command,
    ]);
    return stdout;
  } finally {
    await exec("buildah", [...buildah, "rm", ctr.trim()]);
  }
}

let running: RunningKiln | undefined;
let scratch: string | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

test("start-build --from-dir uploads the directory, its Dockerfile builds it and the image holds its files", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  scratch = await mkdtemp(join(tmpdir(), "kiln-b2i-"));
  const dir = join(scratch, "app");
  await mkdir(join(dir, "conf"), { recursive: true });
  await writeFile(
    join(dir, "Dockerfile"),
    `FROM ${baseImage.ref}\nCOPY . /app/\nCMD ["cat", "/app/conf/greeting.txt"]\n`,
  );
  await writeFile(join(dir, "conf", "greeting.txt"), "hello from a binary build\n");
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  expect(
    (
      await call("POST", "/apis/v1/apply", {
        items: [pushToB2i, binaryBuildConfig("fromdir", infra.registry.address)],
      })
    ).status,
  ).toBe(200);

  const started = await kiln(
    running.cliEnv,
    "start-build",
    "fromdir",
    "--from-dir",
    dir,
    "--follow",
  );
  expect(started.stderr).toContain(`Uploading directory ${JSON.stringify(dir)} as binary input`);
  expect(started.code).toBe(0);
  expect(started.stdout).toContain("build.kiln.dev/fromdir-1 started");
  for (const marker of [
    "--> FetchSource",
    "Receiving binary input (archive",
    "Extracted the archive",
    "--> Build",
    "Pushed ",
  ]) {
    expect(started.stdout).toContain(marker);
  }
  const build = await waitForBuild(call, "fromdir-1", (p) => p === "Complete");
  expect(build.spec.binaryInput).toMatchObject({
    kind: "archive",
    sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
  });
  expect(
    await runInImage(baseImage, build.status.output.imageReference, [
      "cat",
      "/app/conf/greeting.txt",
    ]),
  ).toBe("hello from a binary build\n");
});

test("start-build --from-file places one binary as asFile, an inline Dockerfile copies it and the image runs it", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  scratch = await mkdtemp(join(tmpdir(), "kiln-b2i-"));
  const script = join(scratch, "hello.sh");
  await writeFile(script, '#!/bin/sh\necho "binary says hi: $1"\n');
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const dockerfile = `FROM ${baseImage.ref}\nCOPY tool /usr/local/bin/tool\nCMD ["/usr/local/bin/tool", "from-cmd"]\n`;
  // spec.source.binary.asFile renames the upload, whatever the local file is called.
  await call("POST", "/apis/v1/apply", {
    items: [
      pushToB2i,
      binaryBuildConfig("fromfile", infra.registry.address, { dockerfile, asFile: "tool" }),
    ],
  });

  const started = await kiln(
    running.cliEnv,
    "start-build",
    "fromfile",
    "--from-file",
    script,
    "--follow",
  );
  expect(started.code).toBe(0);
  expect(started.stdout).toContain("Wrote tool");
  const build = await waitForBuild(call, "fromfile-1", (p) => p === "Complete");
  const sha256 = createHash("sha256")
    .update(await readFile(script))
    .digest("hex");
  expect(build.spec.binaryInput).toMatchObject({ kind: "file", asFile: "tool", sha256 });
  expect(
    (
      await runInImage(baseImage, build.status.output.imageReference, [
        "/usr/local/bin/tool",
        "in-image",
      ])
    ).trim(),
  ).toBe("binary says hi: in-image");

  // The upload is deleted once the build has ended (the TTL is only the backstop).
  const nc = await connect(natsAdminOptions(infra));
  try {
    const store = await nc.jetstream().views.os(`${subjectPrefix.toUpperCase()}_BUILD_INPUTS`);
    const deadline = Date.now() + 10_000;
    let info = await store.info(build.spec.binaryInput.object);
    while (info && !info.deleted && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      info = await store.info(build.spec.binaryInput.object);
    }
    expect(info === null || info.deleted).toBe(true);
  } finally {
    await nc.close();
  }
});

test("an archive with '..', an absolute path or a link out of the source is refused: the build fails naming the entry and nothing is written outside", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  scratch = await mkdtemp(join(tmpdir(), "kiln-b2i-"));
  const passwdBefore = await readFile("/etc/passwd");
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [
      pushToB2i,
      binaryBuildConfig("evil", infra.registry.address, { dockerfile: `FROM ${baseImage.ref}\n` }),
    ],
  });
  const cases = [
    {
      entries: [
        { path: "ok.txt", content: "ok" },
        { path: "../evil", content: "escaped" },
      ],
      entry: "../evil",
    },
    { entries: [{ path: "/abs-kiln-evil", content: "escaped" }], entry: "/abs-kiln-evil" },
    {
      entries: [
        { path: "passwd", type: "symlink" as const, linkpath: "/etc/passwd" },
        { path: "passwd", content: "root::0:0::/:/bin/sh\n" },
      ],
      entry: "passwd",
    },
    {
      entries: [
        { path: "etc", type: "symlink" as const, linkpath: "../../../../../../etc" },
        { path: "etc/kiln-evil", content: "escaped" },
      ],
      entry: "etc",
    },
  ];
  for (const [i, c] of cases.entries()) {
    const archive = join(scratch, `evil-${i}.tar.gz`);
    await writeFile(archive, tarBytes(c.entries, { gzip: true }));
    const followed = await kiln(
      running.cliEnv,
      "start-build",
      "evil",
      "--from-archive",
      archive,
      "--follow",
    );
    expect(followed.code).not.toBe(0);
    expect(followed.stderr).toContain("InvalidBinaryInput");
    const build = await waitForBuild(
      call,
      `evil-${i + 1}`,
      (p) => p !== "New" && p !== "Pending" && p !== "Running",
    );
    expect(build.status.phase).toBe("Failed");
    expect(build.status.reason).toBe("InvalidBinaryInput");
    expect(build.status.message).toContain(JSON.stringify(c.entry));
    expect(build.status.message).toMatch(/refused the uploaded archive/);
  }
  // Nothing escaped: not next to the work dirs, not at the root, not in /etc.
  const workRoot = join(infra.workDir, "work", subjectPrefix);
  const found = await exec("find", [
    infra.workDir,
    "/",
    "-xdev",
    "-maxdepth",
    "1",
    "-name",
    "*evil*",
  ]).then((r) => r.stdout.trim());
  expect(found).toBe("");
  expect((await workDirLeftovers(workRoot)).map((e) => e.split("/").pop())).not.toContain("evil");
  await expect(readFile("/abs-kiln-evil")).rejects.toThrow();
  await expect(readFile("/etc/kiln-evil")).rejects.toThrow();
  expect((await readFile("/etc/passwd")).equals(passwdBefore)).toBe(true);
});

test("an upload over API_BINARY_LIMIT_BYTES gets 413 PayloadTooLarge and no build", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  scratch = await mkdtemp(join(tmpdir(), "kiln-b2i-"));
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    extraEnv: { API_BINARY_LIMIT_BYTES: String(1024 * 1024) },
  });
  const call = api(running);
  await call("POST", "/apis/v1/apply", {
    items: [
      pushToB2i,
      binaryBuildConfig("big", infra.registry.address, { dockerfile: `FROM ${baseImage.ref}\n` }),
    ],
  });
  const big = join(scratch, "big.bin");
  await writeFile(big, Buffer.alloc(3 * 1024 * 1024, 7));

  // Known length (a file): refused before reading.
  const byFile = await kiln(running.cliEnv, "start-build", "big", "--from-file", big);
  expect(byFile.code).not.toBe(0);
  expect(byFile.stderr).toMatch(/larger than 1048576 bytes/);

  // Unknown length (a directory, streamed as tar): refused once the limit is passed.
  const dir = join(scratch, "dir");
  await mkdir(dir);
  await copyFile(big, join(dir, "big.bin"));
  const byDir = await kiln(running.cliEnv, "start-build", "big", "--from-dir", dir);
  expect(byDir.code).not.toBe(0);
  expect(byDir.stderr).toMatch(/larger than 1048576 bytes|PayloadTooLarge/);

  // The raw answer has docs/api.md's error shape.
  const raw = await fetch(
    `${running.apiUrl}/apis/v1/namespaces/default/buildconfigs/big/instantiatebinary?asFile=big.bin`,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${running.token}`,
        "content-type": "application/octet-stream",
      },
      body: Buffer.alloc(2 * 1024 * 1024, 1),
    },
  );
  expect(raw.status).toBe(413);
  expect(await raw.json()).toMatchObject({
    error: "PayloadTooLarge",
    message: expect.stringContaining("1048576"),
  });

  await new Promise((r) => setTimeout(r, 1000));
  expect(
    (await call("GET", "/apis/v1/namespaces/default/builds?buildConfig=big")).json.items,
  ).toEqual([]);
});
