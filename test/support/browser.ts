import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { repoRoot } from "./kiln-services.js";

/** Debian's Chromium (bootstrap installs it): playwright-core drives it, no browser is downloaded. */
const chromiumPath = process.env.KILN_CHROMIUM ?? "/usr/bin/chromium";

/** A headless Chromium; `--no-sandbox` because the tests run as root, where Chromium's sandbox refuses to start. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/** Where the tests put their screenshots (test-results/console/, kept by CI as the tests' output). */
export async function screenshotDir(): Promise<string> {
  const dir = join(repoRoot, "test-results", "console");
  await mkdir(dir, { recursive: true });
  return dir;
}
