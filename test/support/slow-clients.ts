import { connect } from "node:net";

/** What became of one slow client's connection. */
export interface SlowClientEnd {
  /** Milliseconds from connecting until the server closed the connection. */
  closedAfterMs: number;
  /** What the server wrote before it closed (a 408, or nothing). */
  received: string;
}

/**
 * How a slow client misbehaves: `silent` connects and sends nothing; `halfHeaders` sends half a
 * request's headers and stops; `dripHeaders` sends its headers a byte every 100 ms, never idle
 * and never done; `halfBody` sends whole headers and a tenth of the body it announced, then
 * stops; `dripBody` sends whole headers, then its body a byte every 100 ms.
 */
export type SlowClientKind = "silent" | "halfHeaders" | "dripHeaders" | "halfBody" | "dripBody";

/**
 * Opens a raw TCP connection to `url` (`http://host:port`) that misbehaves as `kind` says, and
 * resolves once the server closes it. Gives up (rejects) after `giveUpMs`: a server that never
 * closes it is what the test is for.
 */
export function slowClient(
  url: string,
  kind: SlowClientKind,
  options: {
    /** A route that reads its body, so that a half-sent body is waited for. @default "/healthz" */
    path?: string;
    /** Sent before the body's headers (an Authorization the route needs to read the body). */
    headers?: Record<string, string>;
    giveUpMs?: number;
  } = {},
): Promise<SlowClientEnd> {
  const { hostname, port } = new URL(url);
  const path = options.path ?? "/healthz";
  const extra = Object.entries(options.headers ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  const headers = `POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\n${extra}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname);
    let received = "";
    let drip: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`the server held a ${kind} connection for ${options.giveUpMs ?? 10_000} ms`),
      );
    }, options.giveUpMs ?? 10_000);
    const dripFrom = (text: string) => {
      let at = 0;
      drip = setInterval(() => {
        if (at < text.length && !socket.destroyed) socket.write(text[at++]!);
      }, 100);
    };
    socket.on("connect", () => {
      switch (kind) {
        case "silent":
          break;
        case "halfHeaders":
          socket.write(headers.slice(0, headers.indexOf("Content-Type")));
          break;
        case "dripHeaders":
          dripFrom(headers);
          break;
        case "halfBody":
          socket.write(`${headers}{"items":[`.padEnd(headers.length + 100, " "));
          break;
        case "dripBody":
          socket.write(headers);
          dripFrom(" ".repeat(1000));
          break;
      }
    });
    socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
    // A reset counts as closed: what matters is that the server let go.
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(giveUp);
      clearInterval(drip);
      resolve({ closedAfterMs: Date.now() - started, received });
    });
  });
}
