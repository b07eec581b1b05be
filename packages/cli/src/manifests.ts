import { LineCounter, parseAllDocuments } from "yaml";
import { ManifestError } from "./errors.js";

/** One resource read from a file, with where it came from so errors can point back at it. */
export interface Manifest {
  object: Record<string, unknown>;
  file: string;
  /** 1-based line where the document starts. */
  line: number;
}

/**
 * Parses multi-document YAML (JSON is YAML too) into resources. Any syntax error throws a
 * {@link ManifestError} naming the file and line, so `kiln apply` sends nothing for a broken file.
 * Empty documents are skipped and a `kind: List` is flattened, as kubectl does.
 */
export function parseManifests(text: string, file: string): Manifest[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) return []; // an empty stream: only comments or nothing
  const out: Manifest[] = [];
  for (const doc of docs) {
    const firstError = doc.errors[0];
    if (firstError) {
      const line = lineCounter.linePos(firstError.pos[0]).line;
      throw new ManifestError(file, line, firstError.message.split("\n")[0] ?? firstError.code);
    }
    if (doc.contents === null) continue;
    const line = lineCounter.linePos(doc.contents.range[0]).line;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw new ManifestError(file, line, (err as Error).message);
    }
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new ManifestError(
        file,
        line,
        "a document must be a mapping (an object with apiVersion, kind, metadata, spec)",
      );
    }
    const object = value as Record<string, unknown>;
    if (object.kind === "List" && Array.isArray(object.items)) {
      object.items.forEach((item, i) => {
        if (typeof item !== "object" || item === null || Array.isArray(item)) {
          throw new ManifestError(file, line, `items[${i}] of the List is not an object`);
        }
        out.push({ object: item as Record<string, unknown>, file, line });
      });
      continue;
    }
    out.push({ object, file, line });
  }
  return out;
}
