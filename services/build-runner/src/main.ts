import { Bus } from "@kiln/bus";
import { parseUidRanges, UidRangeError } from "@kiln/domain";
import { LocalEngine } from "@kiln/engine";
import { BuildRunner } from "@kiln/runner";
import { baseConfigShape, HealthServer, runService } from "@kiln/runtime";
import { z } from "zod";

const ConfigSchema = z.object({
  ...baseConfigShape,
  /** Only `local` (buildah on this host) for now; `kubernetes` comes with its own issue. */
  BUILD_RUNNER_ENGINE: z.enum(["local"]).default("local"),
  BUILD_RUNNER_WORK_DIR: z.string().min(1),
  BUILD_RUNNER_STORAGE_DIR: z.string().min(1),
  BUILD_RUNNER_MAX_CONCURRENT_BUILDS: z.coerce.number().int().min(1).default(2),
  BUILD_RUNNER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(20_000),
  BUILD_RUNNER_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(18083),
  /** Largest unpacked binary input (`start-build --from-*`), files of an archive together. */
  BUILD_RUNNER_MAX_INPUT_BYTES: z.coerce.number().int().positive().default(2 * 1024 ** 3),
  /**
   * Users an S2I assemble may run as (OpenShift's allowed-UIDs rule, s2i `--allowed-uids`):
   * ranges `a-b`, `a-`, `-b`, `a`, comma-separated. The default refuses root and named users,
   * the safe choice since assemble runs code from the repository; `""` allows every user.
   */
  BUILD_RUNNER_ALLOWED_UIDS: z
    .string()
    .default("1-4294967294")
    .transform((s, ctx) => {
      try {
        return parseUidRanges(s);
      } catch (error) {
        if (!(error instanceof UidRangeError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message });
        return z.NEVER;
      }
    }),
  /** Registries reached over plain HTTP, comma-separated (`127.0.0.1:15000`). */
  KILN_INSECURE_REGISTRIES: z
    .string()
    .default("")
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean)),
});

await runService("build-runner", ConfigSchema, async ({ config, logger, shutdown }) => {
  const bus = await Bus.connect({ servers: config.NATS_URL, prefix: config.KILN_SUBJECT_PREFIX, name: "kiln-build-runner", logger });
  shutdown.add("nats", () => bus.drain());
  await bus.ensureStreams();
  const engine = new LocalEngine({
    workDir: config.BUILD_RUNNER_WORK_DIR,
    storageDir: config.BUILD_RUNNER_STORAGE_DIR,
    insecureRegistries: config.KILN_INSECURE_REGISTRIES,
    maxInputBytes: config.BUILD_RUNNER_MAX_INPUT_BYTES,
    allowedUids: config.BUILD_RUNNER_ALLOWED_UIDS,
  });
  const runner = new BuildRunner({ bus, engine, logger, maxConcurrentBuilds: config.BUILD_RUNNER_MAX_CONCURRENT_BUILDS });
  await runner.start();
  shutdown.add("runner", () => runner.stop(config.BUILD_RUNNER_SHUTDOWN_GRACE_MS));
  const health = new HealthServer({ port: config.BUILD_RUNNER_HEALTH_PORT, check: () => (bus.isClosed() ? ["nats connection closed"] : []) });
  const healthPort = await health.start();
  shutdown.add("health", () => health.stop());
  return { engine: config.BUILD_RUNNER_ENGINE, healthPort, maxConcurrentBuilds: config.BUILD_RUNNER_MAX_CONCURRENT_BUILDS };
});
