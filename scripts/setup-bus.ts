/**
 * Creates or updates the streams and object stores of Kiln's bus and exits: `kiln-service
 * setup-bus` in the image. On Kubernetes it is an init container of the scheduler's pod (k8s/),
 * the one place that gets the `admin` identity's seed: the services may not create or change a
 * stream (their NATS permissions say so) and wait for theirs at start (`Bus.waitForStreams`).
 * `kiln up` and the test fixtures call `setUpBus` directly.
 *
 * Safe to run again and again: it applies the catalogue's stream configs as they are, so every
 * rollout of the scheduler brings the streams to the version it runs.
 */
import { setUpBus } from "@kiln/bus";
import { baseConfigShape, env, runService } from "@kiln/runtime";
import { z } from "zod";

const ConfigSchema = z.object({
  NATS_URL: baseConfigShape.NATS_URL,
  NATS_TLS_CA_FILE: baseConfigShape.NATS_TLS_CA_FILE,
  KILN_SUBJECT_PREFIX: env.subjectPrefix(),
  /** The `admin` identity's NKey user seed (`SU…`), the only one allowed to set streams up. A secret. */
  NATS_ADMIN_NKEY_SEED: z.string().regex(/^SU[A-Z2-7]{56}$/, "must be an NKey user seed (SU…)"),
  LOG_LEVEL: env.logLevel(),
});

await runService(
  "setup-bus",
  { schema: ConfigSchema, secretKeys: ["NATS_ADMIN_NKEY_SEED"] },
  async ({ config }) => {
    await setUpBus({
      servers: config.NATS_URL,
      prefix: config.KILN_SUBJECT_PREFIX,
      adminSeed: config.NATS_ADMIN_NKEY_SEED,
      tlsCaFile: config.NATS_TLS_CA_FILE,
    });
    // Nothing stays open: setUpBus drains its connection, and the process ends once this returns.
    return { prefix: config.KILN_SUBJECT_PREFIX, streams: "set up" };
  },
);
