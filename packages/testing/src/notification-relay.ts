import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One POST the registry made (body parsed as JSON; distribution sends `{ events: [...] }`). */
export type RegistryNotification = {
  headers: IncomingHttpHeaders;
  body: { events?: RegistryEvent[] } & Record<string, unknown>;
};

/** The fields of a distribution notification event that tests look at. */
export type RegistryEvent = {
  id: string;
  action: "push" | "pull" | "mount" | "delete";
  target: { mediaType?: string; digest?: string; repository: string; tag?: string; url?: string };
} & Record<string, unknown>;

/**
 * Receives the worker registry's notifications. The registry's endpoint is fixed in its config
 * when the worker starts, before any test knows where its own webhook receiver listens, so
 * each test points the relay at it with `forwardTo(url)` and clears it afterwards.
 */
export class NotificationRelay {
  /** Everything received since the last `clear()`. */
  readonly received: RegistryNotification[] = [];
  private target: string | undefined;
  private server: Server | undefined;
  private waiters: {
    predicate: (e: RegistryEvent) => boolean;
    resolve: (e: RegistryEvent) => void;
  }[] = [];

  /** URL to give the registry as `notificationUrl`. */
  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error("relay is not listening");
    return `http://127.0.0.1:${address.port}/registry/events`;
  }

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(chunks);
        void this.handle(req.headers, raw).then(
          (status) => res.writeHead(status).end(),
          () => res.writeHead(502).end(),
        );
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }

  /** Forward every notification from now on to `url` (with the original headers), or stop forwarding. */
  forwardTo(url: string | undefined): void {
    this.target = url;
  }

  /** Resolves with the first event (already received or arriving later) matching `predicate`. */
  waitForEvent(
    predicate: (e: RegistryEvent) => boolean,
    timeoutMs = 10_000,
  ): Promise<RegistryEvent> {
    for (const n of this.received) {
      const hit = n.body.events?.find(predicate);
      if (hit) return Promise.resolve(hit);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (e: RegistryEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching registry event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  clear(): void {
    this.received.length = 0;
    this.target = undefined;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(headers: IncomingHttpHeaders, raw: Buffer): Promise<number> {
    let body: RegistryNotification["body"];
    try {
      body = JSON.parse(raw.toString("utf8")) as RegistryNotification["body"];
    } catch {
      return 400;
    }
    this.received.push({ headers, body });
    for (const event of body.events ?? []) {
      for (const w of this.waiters.filter((w) => w.predicate(event))) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(event);
      }
    }
    if (this.target === undefined) return 200;
    const forwarded: Record<string, string> = {};
    for (const name of ["content-type", "authorization"]) {
      const v = headers[name];
      if (typeof v === "string") forwarded[name] = v;
    }
    const res = await fetch(this.target, { method: "POST", headers: forwarded, body: raw });
    await res.body?.cancel();
    // Pass the receiver's answer back so the registry retries what the receiver rejected.
    return res.status;
  }
}
