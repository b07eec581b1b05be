import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One file the console serves, read once when the api starts. */
export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
  /** Strong ETag (content hash): a reload asks "still this?" and gets a 304. */
  etag: string;
}

export interface ConsoleAssets {
  /** The page every console URL answers with; it holds no data (the data comes from the API). */
  page: ConsoleAsset;
  /** By path under `/console/`: `app/…` (Kiln's modules and style) and `vendor/…` (Preact, htm). */
  files: ReadonlyMap<string, ConsoleAsset>;
  /** The Content-Security-Policy the page is served with: only this origin's scripts, and the page's import map by its hash. */
  contentSecurityPolicy: string;
}

const contentTypes: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * The browser modules of the libraries the console is written with, served from this
 * installation's node_modules so the console works without internet: Preact (the view) and htm
 * (JSX-like templates in plain JavaScript, so there is no build step and what is served is
 * what is in the repository).
 */
function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const preact = dirname(require.resolve("preact/package.json"));
  return {
    "vendor/preact.mjs": join(preact, "dist/preact.mjs"),
    "vendor/preact-hooks.mjs": join(preact, "hooks/dist/hooks.mjs"),
    "vendor/htm.mjs": join(dirname(require.resolve("htm")), "htm.mjs"),
  };
}

/** The import map of the page: bare names of the vendor modules, as the app and Preact's hooks import them. */
const importMap = JSON.stringify({
  imports: {
    preact: "/console/vendor/preact.mjs",
    "preact/hooks": "/console/vendor/preact-hooks.mjs",
    htm: "/console/vendor/htm.mjs",
  },
});

function asset(body: Buffer, path: string): ConsoleAsset {
  const hash = createHash("sha256").update(body).digest("base64url").slice(0, 27);
  return {
    body,
    contentType: contentTypes[extname(path)] ?? "application/octet-stream",
    etag: `"${hash}"`,
  };
}

/** Reads every file of the console (a few tens of kB), so a request never touches the disk. */
export async function loadConsoleAssets(): Promise<ConsoleAssets> {
  const appDir = fileURLToPath(new URL("../app/", import.meta.url));
  const files = new Map<string, ConsoleAsset>();
  for (const entry of await readdir(appDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name === "index.html") continue;
    const full = join(entry.parentPath, entry.name);
    const path = `app/${full.slice(appDir.length)}`;
    files.set(path, asset(await readFile(full), path));
  }
  for (const [path, file] of Object.entries(vendorFiles()))
    files.set(path, asset(await readFile(file), path));

  const template = await readFile(join(appDir, "index.html"), "utf8");
  const mapScript = importMap;
  const html = template.replace(
    "<!--import-map-->",
    `<script type="importmap">${mapScript}</script>`,
  );
  const mapHash = createHash("sha256").update(mapScript).digest("base64");
  return {
    page: asset(Buffer.from(html), "index.html"),
    files,
    contentSecurityPolicy: [
      "default-src 'self'",
      `script-src 'self' 'sha256-${mapHash}'`,
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ].join("; "),
  };
}
