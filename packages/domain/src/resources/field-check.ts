import type { FieldIssue } from "../errors.js";
import { coveringEntries, openShiftFields, type OpenShiftKind } from "./openshift-fields.js";

/** What a document's listed fields ask of an apply. Paths are concrete (`env[1].valueFrom`). */
export interface ListedFields {
  /** Refused fields that are set: the apply fails naming each. */
  refused: FieldIssue[];
  /** Fields stored that cannot matter on Kiln: the apply warns about each. */
  warnings: FieldIssue[];
  /** The document without its refused fields, to parse for the other issues. */
  rest: unknown;
}

/**
 * Finds the refused and warned fields (openshift-fields.ts) a document sets. A field set to
 * nothing (null, false, "", [] or {}) asks for nothing: it is neither refused nor warned about.
 */
export function findListedFields(kind: OpenShiftKind, doc: unknown, prefix = ""): ListedFields {
  const found: ListedFields = { refused: [], warnings: [], rest: doc };
  found.rest = walk(kind, doc, prefix, "", found);
  return found;
}

function walk(
  kind: OpenShiftKind,
  value: unknown,
  at: string,
  schemaPath: string,
  found: ListedFields,
): unknown {
  if (Array.isArray(value)) {
    const items = value.map((item, i) => walk(kind, item, `${at}[${i}]`, schemaPath, found));
    return items.every((item, i) => item === value[i]) ? value : items;
  }
  if (!isObject(value)) return value;
  const { refused, warned } = openShiftFields[kind];
  let out: Record<string, unknown> | undefined;
  for (const [key, child] of Object.entries(value)) {
    const path = `${schemaPath ? `${schemaPath}.` : ""}${key}${Array.isArray(child) ? "[]" : ""}`;
    const where = at ? `${at}.${key}` : key;
    const refusal = reasonOf(refused, path);
    if (refusal !== undefined) {
      if (!isNothing(child))
        found.refused.push({ path: where, message: `not supported by Kiln: ${refusal}` });
      out ??= { ...value };
      delete out[key];
      continue;
    }
    const warning = reasonOf(warned, path);
    if (warning !== undefined) {
      if (!isNothing(child))
        found.warnings.push({ path: where, message: `stored, but has no effect: ${warning}` });
      continue;
    }
    const walked = walk(kind, child, where, path, found);
    if (walked !== child) {
      out ??= { ...value };
      out[key] = walked;
    }
  }
  return out ?? value;
}

function reasonOf(list: Readonly<Record<string, string>>, path: string): string | undefined {
  const [entry] = coveringEntries(list, path);
  return entry === undefined ? undefined : list[entry];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNothing(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  return isObject(value) && Object.keys(value).length === 0;
}
