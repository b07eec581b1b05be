import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Bus } from "@kiln/bus";
import {
  BuildFailure,
  FailureReason,
  parseUidRanges,
  type BuildJob,
  type BuildLogSink,
  type BuildRevision,
  type BuildSpec,
} from "@kiln/domain";
import {
  BuildIsolation,
  BuildNetwork,
  fetchSource,
  LocalEngine,
  prepareBuildHost,
  StorageDriverChoice,
} from "@kiln/engine";
import { pino } from "pino";
import { z } from "zod";
import { PodPath, StepEnv } from "./job-manifest.js";
import { encodeStepReport, StepName, type StepReport } from "./termination.js";

/**
 * `kiln-build-step fetch|build`: what the build pod's containers run. It is the local engine's
 * own code, one stage per container, on the pod's shared work dir:
 * - `fetch` (init container): `LocalEngine.fetch` clones the commit (or unpacks the binary
 *   input, read from the bus's object store) into `<work>/src` and keeps the revision in
 *   `<work>/revision.json`;
 * - `build` (build container): `LocalEngine.buildAndPush` builds with buildah and pushes by digest.
 * Output lines go to stdout, which the engine streams into the build's log (`--> Step` lines
 * become step markers); the result goes to the termination message as a `StepReport`.
 */

const StepEnvSchema = z.object({
  [StepEnv.Build]: z.string().transform((text, ctx) => {
    try {
      const build = JSON.parse(text) as {
        id?: unknown;
        namespace?: unknown;
        name?: unknown;
        spec?: { buildConfig?: unknown };
      };
      if (
        typeof build.id === "string" &&
        typeof build.namespace === "string" &&
        typeof build.name === "string" &&
        typeof build.spec?.buildConfig === "string"
      ) {
        return build as { id: string; namespace: string; name: string; spec: BuildSpec };
      }
    } catch {
      // reported below
    }
    ctx.addIssue({
      code: "custom",
      message: "must be the build as JSON ({id, namespace, name, spec})",
    });
    return z.NEVER;
  }),
  [StepEnv.WorkDir]: z.string().min(1).default(PodPath.workspace),
  [StepEnv.StorageDir]: z.string().min(1).default(PodPath.storage),
  [StepEnv.InsecureRegistries]: z
    .string()
    .default("")
    .transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    ),
  [StepEnv.AllowedUids]: z.string().default(""),
  [StepEnv.MaxInputBytes]: z.coerce
    .number()
    .int()
    .positive()
    .default(2 * 1024 ** 3),
  [StepEnv.PullAuthFile]: z.string().min(1).optional(),
  [StepEnv.PushAuthFile]: z.string().min(1).optional(),
  [StepEnv.NatsUrl]: z.string().min(1).optional(),
  [StepEnv.NatsSeedFile]: z.string().min(1).optional(),
  [StepEnv.NatsTlsCaFile]: z.string().min(1).optional(),
  [StepEnv.SubjectPrefix]: z.string().min(1).optional(),
  [StepEnv.TerminationLog]: z.string().min(1).default(PodPath.terminationLog),
  [StepEnv.Isolation]: z
    .enum([BuildIsolation.Oci, BuildIsolation.ChrootUnsafe])
    .default(BuildIsolation.Oci),
  [StepEnv.Network]: z.enum([BuildNetwork.Pod, BuildNetwork.None]).default(BuildNetwork.Pod),
  [StepEnv.StorageDriver]: z
    .enum([StorageDriverChoice.Auto, StorageDriverChoice.Overlay, StorageDriverChoice.Vfs])
    .default(StorageDriverChoice.Auto),
});

export interface BuildStepOptions {
  step: StepName;
  env: NodeJS.ProcessEnv;
  /** Where output lines go. @default stdout */
  writeLine?: (line: string) => void;
  /** Aborted on SIGTERM (a cancelled build's pod is deleted). */
  signal: AbortSignal;
}

/** Runs one step and reports it; resolves to the exit code (0, 1 for a failed build, 143 when stopped). */
export async function runBuildStep(options: BuildStepOptions): Promise<number> {
  const writeLine = options.writeLine ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const parsed = StepEnvSchema.safeParse(options.env);
  const terminationLog = options.env[StepEnv.TerminationLog] ?? PodPath.terminationLog;
  const report = async (r: StepReport) => {
    await writeFile(terminationLog, encodeStepReport(r)).catch(() => undefined);
  };
  if (!parsed.success) {
    const message = `kiln-build-step ${options.step}: bad environment: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
    await report({
      v: 1,
      step: options.step,
      failure: { reason: FailureReason.InternalError, message },
    });
    return 1;
  }
  const env = parsed.data;
  const build = env[StepEnv.Build];
  const workDir = env[StepEnv.WorkDir];
  // The build container alone runs buildah; the fetch container needs no build host.
  const engine = async () => {
    const storageDir = env[StepEnv.StorageDir];
    const host = await prepareBuildHost({
      isolation: env[StepEnv.Isolation],
      network: env[StepEnv.Network],
      storageDriver: env[StepEnv.StorageDriver],
      workDir,
      storageDir,
    });
    if (host.storageFallback)
      writeLine(
        `warning: overlay storage cannot mount in this pod (${host.storageFallback}); building on vfs`,
      );
    return new LocalEngine({
      workDir,
      storageDir,
      host,
      insecureRegistries: env[StepEnv.InsecureRegistries],
      allowedUids: parseUidRanges(env[StepEnv.AllowedUids]),
    });
  };
  const sink: BuildLogSink = {
    line: writeLine,
    step: (step) => writeLine(`--> ${step}`),
    // Reported through the termination message below, never parsed out of the log.
    sourceFetched: () => undefined,
  };
  let bus: Bus | null = null;
  try {
    if (options.step === StepName.Fetch) {
      const job: BuildJob = { ...build };
      if (build.spec.binaryInput) {
        bus = await connectForBinaryInput(
          env[StepEnv.NatsUrl],
          env[StepEnv.SubjectPrefix],
          env[StepEnv.NatsSeedFile],
          env[StepEnv.NatsTlsCaFile],
        );
        const object = build.spec.binaryInput.object;
        const store = bus;
        job.openBinaryInput = async function* () {
          const content = await store.readObject("BUILD_INPUTS", object);
          if (!content)
            throw new BuildFailure(
              FailureReason.InvalidBinaryInput,
              `the uploaded input ${object} is gone (older than the store's TTL?); start the build again`,
            );
          yield* content;
        };
      }
      const revision = await fetchSource(job, workDir, sink, options.signal, {
        maxInputBytes: env[StepEnv.MaxInputBytes],
      });
      await writeFile(join(workDir, "revision.json"), JSON.stringify(revision));
      await report({ v: 1, step: "fetch", revision });
    } else {
      const revision = JSON.parse(
        await readFile(join(workDir, "revision.json"), "utf8").catch(() => "null"),
      ) as BuildRevision | null;
      const job: BuildJob = {
        ...build,
        credentials: {
          pull: await readCredentials(env[StepEnv.PullAuthFile]),
          push: await readCredentials(env[StepEnv.PushAuthFile]),
        },
      };
      const output = await (
        await engine()
      ).buildAndPush(job, workDir, revision, sink, options.signal);
      await report({ v: 1, step: "build", output });
    }
    return 0;
  } catch (error) {
    if (options.signal.aborted) return 143;
    if (error instanceof BuildFailure) {
      await report({
        v: 1,
        step: options.step,
        failure: { reason: error.reason, message: error.message },
      });
    } else {
      const message = error instanceof Error ? error.message : String(error);
      await report({
        v: 1,
        step: options.step,
        failure: { reason: FailureReason.InternalError, message },
      });
    }
    return 1;
  } finally {
    await bus?.drain().catch(() => undefined);
  }
}

async function connectForBinaryInput(
  natsUrl: string | undefined,
  prefix: string | undefined,
  seedFile: string | undefined,
  tlsCaFile: string | undefined,
): Promise<Bus> {
  if (!natsUrl)
    throw new BuildFailure(
      FailureReason.InvalidBinaryInput,
      "the build pod was given no NATS URL to read the binary input from",
    );
  const nkeySeed = seedFile ? await readSecretFile(seedFile, "the bus identity") : undefined;
  try {
    // Silent: this process's stdout is the build's log.
    return await Bus.connect({
      servers: natsUrl,
      ...(prefix ? { prefix } : {}),
      name: "kiln-build-step",
      logger: pino({ level: "silent" }),
      identity: { role: "build-pod", nkeySeed },
      tlsCaFile,
    });
  } catch (error) {
    throw new BuildFailure(
      FailureReason.InvalidBinaryInput,
      `cannot reach NATS at ${natsUrl} to read the binary input`,
      { cause: error },
    );
  }
}

/** A mounted `.dockerconfigjson`, passed on as the local engine's credentials (it writes them as owner-only auth files). */
async function readCredentials(file: string | undefined): Promise<string | undefined> {
  return file ? await readSecretFile(file, "the registry credentials") : undefined;
}

async function readSecretFile(file: string, what: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (error) {
    throw new BuildFailure(
      FailureReason.MissingSecret,
      `${what} mounted at ${file} cannot be read`,
      {
        cause: error,
      },
    );
  }
}

/** The command line: `kiln-build-step fetch|build`. SIGTERM (the pod deleted on cancel) stops the step. */
export async function main(argv: readonly string[]): Promise<number> {
  const step = argv[0];
  if (step !== StepName.Fetch && step !== StepName.Build) {
    process.stderr.write("usage: kiln-build-step fetch|build\n");
    return 2;
  }
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("stopped by SIGTERM"));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  try {
    return await runBuildStep({ step, env: process.env, signal: controller.signal });
  } finally {
    process.off("SIGTERM", stop);
    process.off("SIGINT", stop);
  }
}
