import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { planS2IBuild, S2IContextDir, type ImageConfig, type S2IPlan } from "@kiln/domain";
import { resolveInside } from "../source-paths.js";
import { prepareS2ISource } from "./source-tree.js";

export interface WriteS2IDockerfileOptions {
  /** The checked-out source (its root; `contextDir` is applied here). */
  sourceDir: string;
  contextDir?: string | undefined;
  /** Where the Dockerfile and `upload/` go: must not exist or be empty. */
  outDir: string;
  builderImage: string;
  builder: ImageConfig;
  runtime: { image: string; config: ImageConfig } | null;
  strategy: {
    scripts?: string | undefined;
    env?: readonly { name: string; value: string }[] | undefined;
    runtimeArtifacts?:
      readonly { sourcePath: string; destinationDir?: string | undefined }[] | undefined;
  };
  /** `kiln start-build --env`: wins over everything else, as in a build. */
  buildEnv?: readonly { name: string; value: string }[] | undefined;
  /** Labels put on the output (source location, commit). */
  labels: readonly (readonly [string, string])[];
  outputImage?: string | null | undefined;
}

/** The outcome: the plan written, and what the caller may want to tell the user. */
export interface WrittenS2IDockerfile {
  plan: S2IPlan;
  dockerfile: string;
  /** Source scripts found in `.s2i/bin`, and what `.s2iignore` left out. */
  scripts: readonly string[];
  ignored: readonly string[];
}

/**
 * `s2i build --as-dockerfile`: the Dockerfile and context an S2I build of Kiln's would use,
 * written for any builder (`buildah bud DIR`, `docker build DIR`). The same planner and source
 * layout as the engine's Source strategy (s2i-build.ts), so what is built elsewhere is what Kiln
 * builds; without the previous image's artifacts (no incremental build outside Kiln).
 */
export async function writeS2IDockerfile(
  options: WriteS2IDockerfileOptions,
): Promise<WrittenS2IDockerfile> {
  await mkdir(options.outDir, { recursive: true });
  if ((await readdir(options.outDir)).length > 0)
    throw new Error(`${options.outDir} is not empty: give a new or an empty directory`);
  const sourceDir = await resolveInside(options.sourceDir, options.contextDir ?? "", "contextDir");
  const facts = await prepareS2ISource(
    sourceDir,
    join(options.outDir, S2IContextDir.Source),
    join(options.outDir, S2IContextDir.Scripts),
  );
  // The Dockerfile COPYs upload/ as a whole: it must exist for a source with no files.
  await mkdir(join(options.outDir, S2IContextDir.Source), { recursive: true });
  const plan = planS2IBuild({
    builderImage: options.builderImage,
    builder: options.builder,
    strategy: options.strategy,
    runtime: options.runtime,
    source: { scripts: facts.scripts, environment: facts.environment },
    buildEnv: options.buildEnv,
    // Whoever builds it runs assemble as the image says: Kiln's runner rule is Kiln's to apply.
    allowedUids: [],
    outputLabels: options.labels,
    outputImage: options.outputImage ?? null,
    contextDir: options.contextDir,
  });
  await writeFile(join(options.outDir, "Dockerfile"), plan.dockerfile);
  return {
    plan,
    dockerfile: plan.dockerfile,
    scripts: facts.scripts,
    ignored: facts.ignored,
  };
}
