import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** One file the console serves, made once when the api starts. */
export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
  /** Strong ETag (content hash): a reload asks "still this?" and gets a 304. */
  etag: string;
}

export interface ConsoleAssets {
  /** The page every console URL answers with; it holds no data (the data comes from the API). */
  page: ConsoleAsset;
  /** By path under `/console/`: the app's script and its style. */
  files: ReadonlyMap<string, ConsoleAsset>;
  /** The Content-Security-Policy the page is served with: this origin's script and style only. */
  contentSecurityPolicy: string;
}

const contentTypes: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
};

function asset(body: Buffer, path: string): ConsoleAsset {
  const hash = createHash("sha256").update(body).digest("base64url").slice(0, 27);
  return {
    body,
    contentType: contentTypes[extname(path)] ?? "application/octet-stream",
    etag: `"${hash}"`,
  };
}

/**
 * Makes the console's files from packages/console/app, once, in memory. The app is plain
 * JavaScript modules written with Preact and htm (no JSX, so no compile step while working on
 * it); esbuild bundles them with Preact from this installation's node_modules into one script,
 * so a first load is three requests instead of one per module (a browser opens only six
 * connections to a host), and the console works without internet.
 */
export async function loadConsoleAssets(): Promise<ConsoleAssets> {
  const appDir = fileURLToPath(new URL("../app/", import.meta.url));
  const bundle = await build({
    entryPoints: [join(appDir, "main.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    write: false,
    logLevel: "silent",
  });
  const script = bundle.outputFiles[0];
  if (!script) throw new Error("esbuild made no console script");
  const files = new Map<string, ConsoleAsset>([
    ["app.js", asset(Buffer.from(script.contents), "app.js")],
    ["style.css", asset(await readFile(join(appDir, "style.css")), "style.css")],
  ]);
  const page = await readFile(join(appDir, "index.html"));
  return {
    page: asset(page, "index.html"),
    files,
    contentSecurityPolicy: [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ].join("; "),
  };
}
