import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { buildahArgs } from "@kiln/infra";
import { buildS2IBuilderImage } from "@kiln/testing";

const exec = promisify(execFile);

/** A buildah store and the auth file of the registry it pulls from and pushes to (the `baseImage` fixture is one). */
export interface ImageStore {
  storageDir: string;
  authFile: string;
}

/** Opens a pushed image as a buildah container, runs `fn` with a way to run commands in it, removes it. */
export async function inImage(
  { storageDir, authFile }: ImageStore,
  imageReference: string,
  fn: (
    run: (...cmd: string[]) => Promise<string>,
    config: { Cmd: string[]; Labels?: Record<string, string>; User?: string; Env?: string[] },
  ) => Promise<void>,
): Promise<void> {
  const buildah = buildahArgs(storageDir);
  const container = (
    await exec("buildah", [
      ...buildah,
      "from",
      "--tls-verify=false",
      "--authfile",
      authFile,
      "--quiet",
      imageReference,
    ])
  ).stdout.trim();
  try {
    const config = JSON.parse(
      (await exec("buildah", [...buildah, "inspect", "--type", "container", container])).stdout,
    ).OCIv1.config;
    const run = async (...cmd: string[]) =>
      (await exec("buildah", [...buildah, "run", "--isolation", "chroot", container, "--", ...cmd]))
        .stdout;
    await fn(run, config);
  } finally {
    await exec("buildah", [...buildah, "rm", container]);
  }
}

/** Runs a pushed image's CMD the way a user would try it, and returns what it printed. */
export async function runImage(store: ImageStore, imageReference: string): Promise<string> {
  let out = "";
  await inImage(store, imageReference, async (run, config) => {
    out = (await run(...config.Cmd)).trim();
  });
  return out;
}

/**
 * The smallest S2I builder an app needs: assemble copies the sources to /opt/app-root and run
 * prints their `message.txt`. Built into `storageDir` and pushed as `ref`.
 */
export function messageAppBuilder({ storageDir, authFile }: ImageStore, ref: string) {
  return buildS2IBuilderImage({
    storageDir,
    authFile,
    ref,
    scripts: {
      assemble: "#!/bin/sh\nset -e\ncp -R /tmp/src/. /opt/app-root/\n",
      run: "#!/bin/sh\ncat /opt/app-root/message.txt\n",
    },
  });
}
