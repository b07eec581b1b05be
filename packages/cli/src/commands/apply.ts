import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { stringify } from "yaml";
import type { CommandContext } from "../context.js";
import { ManifestError, UsageError } from "../errors.js";
import { parseManifests, type Manifest } from "../manifests.js";
import type { OutputFormat } from "../output/format.js";
import { qualifiedName } from "../resources.js";

export interface ApplyOptions {
  filename: string[];
  namespace?: string | undefined;
  output?: OutputFormat | undefined;
}

const manifestExtensions = new Set([".yaml", ".yml", ".json"]);

/**
 * `kiln apply -f FILE|DIR|-`: every document of every file is parsed before anything is sent,
 * and the API applies them all or none, so a half-applied set never happens.
 */
export async function applyCommand(ctx: CommandContext, options: ApplyOptions): Promise<void> {
  if (options.filename.length === 0)
    throw new UsageError("apply needs at least one -f FILE (or -f - for stdin)");
  const manifests: Manifest[] = [];
  for (const name of options.filename) {
    for (const [file, text] of await readSources(ctx, name))
      manifests.push(...parseManifests(text, file));
  }
  if (manifests.length === 0)
    throw new UsageError(`no resources found in ${options.filename.join(", ")}`);

  const namespace = ctx.namespace(options.namespace);
  const items = manifests.map((m) => withNamespace(m, namespace, options.namespace !== undefined));
  const { items: results, warnings } = await ctx.client().apply(items);
  // On stderr, as kubectl prints them: `-o json` stays parseable, and a script still sees them.
  for (const warning of warnings) ctx.err(`Warning: ${warning}\n`);

  if (options.output === "json" || options.output === "yaml") {
    // The apply results themselves, so a script sees created/configured/unchanged per item.
    ctx.out(
      options.output === "json"
        ? `${JSON.stringify({ items: results }, null, 2)}\n`
        : stringify({ items: results }),
    );
    return;
  }
  for (const r of results) {
    ctx.out(
      options.output === "name"
        ? `${qualifiedName(r.kind, r.name)}\n`
        : `${qualifiedName(r.kind, r.name)} ${r.action}\n`,
    );
  }
}

/**
 * Fills in the namespace like kubectl: a document without one lands in the current namespace;
 * one that names a different namespace than an explicit `-n` is refused rather than guessed.
 */
function withNamespace(m: Manifest, namespace: string, explicit: boolean): Record<string, unknown> {
  const metadata = m.object.metadata;
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) return m.object; // the API names the field
  const meta = metadata as Record<string, unknown>;
  if (meta.namespace === undefined || meta.namespace === null || meta.namespace === "") {
    return { ...m.object, metadata: { ...meta, namespace } };
  }
  if (explicit && meta.namespace !== namespace) {
    throw new ManifestError(
      m.file,
      m.line,
      `the namespace in the document (${String(meta.namespace)}) does not match -n ${namespace}`,
    );
  }
  return m.object;
}

async function readSources(
  ctx: CommandContext,
  name: string,
): Promise<[file: string, text: string][]> {
  if (name === "-") return [["<stdin>", await readAll(ctx.io.stdin)]];
  const path = resolve(ctx.io.cwd, name);
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new ManifestError(name, null, "no such file or directory");
  }
  if (!isDir) return [[name, readFileSync(path, "utf8")]];
  // A directory applies its manifests in name order, not recursively, like `kubectl apply -f DIR`.
  return readdirSync(path)
    .filter((f) => manifestExtensions.has(extname(f)))
    .sort()
    .map((f) => [join(name, f), readFileSync(join(path, f), "utf8")] as [string, string]);
}

async function readAll(stream: AsyncIterable<string | Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream)
    text += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}
