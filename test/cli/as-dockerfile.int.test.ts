/**
 * `kiln start-build NAME --as-dockerfile DIR` (s2i's `--as-dockerfile`) against the real api:
 * the Dockerfile and context it writes for a Source BuildConfig build with plain `buildah bud`
 * (real buildah, no Kiln runner), and the image runs the builder's run script with the
 * source's files and environment. A Docker BuildConfig, and a directory that is not empty, are
 * refused and nothing is written.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { runCli } from "@kiln/cli";
import { buildahArgs } from "@kiln/infra";
import { buildS2IBuilderImage, makeGitRepo } from "@kiln/testing";
import { expect } from "vitest";
import { inImage } from "../support/images.js";
import { bootstrapToken, test } from "../support/tenant-api.js";

const exec = promisify(execFile);

test("the Dockerfile and context of an S2I BuildConfig build with buildah bud alone", async ({
  kiln,
  baseImage,
}) => {
  const registry = kiln.infra.registry.address;
  const builder = await buildS2IBuilderImage({
    storageDir: baseImage.storageDir,
    authFile: baseImage.authFile,
    ref: `${registry}/s2i/as-dockerfile:latest`,
    scripts: {
      assemble:
        '#!/bin/sh\nset -e\necho "assemble as $(id -u)"\nmkdir -p /opt/app-root/src\ncp -R /tmp/src/. /opt/app-root/src/\n',
      run: '#!/bin/sh\necho "$(cat /opt/app-root/src/message.txt) GREETING=$GREETING FROM_CLI=$FROM_CLI"\n',
    },
  });
  await using repo = await makeGitRepo({
    "message.txt": "hello from as-dockerfile",
    ".s2i/environment": "GREETING=from-the-repo\n",
    ".s2iignore": "notes.txt\n",
    "notes.txt": "not for the image",
  });
  const applied = await kiln.bootstrap("POST", "/apis/v1/apply", {
    items: [
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "app", namespace: "default" },
        spec: {
          source: { git: { uri: repo.url, ref: "main" } },
          strategy: { sourceStrategy: { from: { kind: "DockerImage", name: builder.ref } } },
          output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
        },
      },
      {
        apiVersion: "kiln.dev/v1",
        kind: "BuildConfig",
        metadata: { name: "docker", namespace: "default" },
        spec: {
          source: { git: { uri: repo.url, ref: "main" } },
          strategy: { type: "Docker", dockerStrategy: {} },
          output: { to: { kind: "ImageStreamTag", name: "docker:latest" } },
        },
      },
    ],
  });
  expect(applied.status).toBe(200);
  const cli = async (...args: string[]) => {
    let stdout = "";
    let stderr = "";
    const code = await runCli(args, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: {
        ...process.env,
        KILN_API_URL: kiln.url,
        KILN_TOKEN: bootstrapToken,
        KILN_NAMESPACE: "default",
        KILN_REGISTRY: registry,
        REGISTRY_AUTH_FILE: baseImage.authFile,
      },
      cwd: "/",
    });
    return { code, stdout, stderr };
  };

  const dir = join(await mkdtemp(join(tmpdir(), "kiln-as-dockerfile-test-")), "out");
  const written = await cli("start-build", "app", "--as-dockerfile", dir, "-e", "FROM_CLI=yes");
  expect(written.stderr).toBe("");
  expect(written.code).toBe(0);
  expect(written.stdout).toBe(
    `Wrote ${dir}/Dockerfile and its context ${dir}/upload (builder ${builder.ref}); build it with: buildah bud ${dir}\n`,
  );
  expect((await readdir(dir)).sort()).toEqual(["Dockerfile", "upload"]);
  const sources = await readdir(join(dir, "upload", "src"));
  expect(sources).toContain("message.txt");
  expect(sources).not.toContain("notes.txt");
  expect(sources).not.toContain(".git");
  const dockerfile = await readFile(join(dir, "Dockerfile"), "utf8");
  expect(dockerfile).toContain(`FROM ${builder.ref}\n`);
  expect(dockerfile).toContain(`"io.openshift.build.commit.id"="${repo.commit}"`);
  // No build was started on Kiln.
  const builds = await kiln.bootstrap("GET", "/apis/v1/namespaces/default/builds");
  expect(builds.json.items).toEqual([]);

  // Plain buildah, as any builder would: nothing of Kiln's.
  const tag = "localhost/as-dockerfile/app:test";
  await exec("buildah", [
    ...buildahArgs(baseImage.storageDir),
    "bud",
    "--isolation",
    "chroot",
    "--tls-verify=false",
    "--authfile",
    baseImage.authFile,
    "--tag",
    tag,
    dir,
  ]);
  await inImage(baseImage, tag, async (run, config) => {
    expect(config.User).toBe("1001");
    expect((await run(...config.Cmd)).trim()).toBe(
      "hello from as-dockerfile GREETING=from-the-repo FROM_CLI=yes",
    );
  });

  const docker = await cli("start-build", "docker", "--as-dockerfile", join(dir, "..", "d"));
  expect(docker).toMatchObject({
    code: 1,
    stderr:
      "error: --as-dockerfile is for Source (S2I) BuildConfigs; docker is Docker (its Dockerfile is in its source)\n",
  });
  const busy = join(dir, "..", "busy");
  await exec("mkdir", ["-p", busy]);
  await writeFile(join(busy, "keep.txt"), "mine\n");
  const refused = await cli("start-build", "app", "--as-dockerfile", busy);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe(
    `error: cannot write the Dockerfile: ${busy} is not empty: give a new or an empty directory\n`,
  );
  expect(await readdir(busy)).toEqual(["keep.txt"]);
});
