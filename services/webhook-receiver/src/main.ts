import { Bus } from "@kiln/bus";
import { baseConfigShape, HealthServer, runService } from "@kiln/runtime";
import { z } from "zod";

const ConfigSchema = z.object({
  ...baseConfigShape,
  WEBHOOK_HOST: z.string().default("127.0.0.1"),
  WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(18081),
});

// Git and registry webhooks arrive with the triggers issue. Until then every hook is answered
// plainly (501 with a reason), never a silent 2xx that a sender would take as "build started".
await runService("webhook-receiver", ConfigSchema, async ({ config, logger, shutdown }) => {
  const bus = await Bus.connect({ servers: config.NATS_URL, prefix: config.KILN_SUBJECT_PREFIX, name: "kiln-webhook-receiver", logger });
  shutdown.add("nats", () => bus.drain());
  await bus.ensureStreams();
  const server = new HealthServer({
    host: config.WEBHOOK_HOST,
    port: config.WEBHOOK_PORT,
    check: () => (bus.isClosed() ? ["nats connection closed"] : []),
    otherwise: (req, res) => {
      logger.warn({ method: req.method, path: req.url?.split("?")[0] }, "webhook refused: not implemented yet");
      res.writeHead(501, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "NotImplemented", message: "webhooks are not handled by this Kiln version yet; start builds with `kiln start-build`" }));
    },
  });
  const port = await server.start();
  shutdown.add("http", () => server.stop());
  return { url: `http://${config.WEBHOOK_HOST}:${port}` };
});
