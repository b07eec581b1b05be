import { pino } from "pino";
import { Bus } from "./bus.js";

/**
 * Creates or updates every stream of the bus of `prefix` as the admin identity, the only one
 * allowed to: `kiln up` runs it before the services start, `kiln-service setup-bus` on Kubernetes.
 */
export async function setUpBus(options: {
  servers: string;
  prefix?: string;
  adminSeed: string;
  tlsCaFile?: string | undefined;
}): Promise<void> {
  const bus = await Bus.connect({
    servers: options.servers,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    name: "kiln-setup-bus",
    logger: pino({ level: "silent" }),
    identity: { role: "admin", nkeySeed: options.adminSeed },
    tlsCaFile: options.tlsCaFile,
  });
  try {
    await bus.ensureStreams();
  } finally {
    await bus.drain();
  }
}
