/**
 * Label and field selectors, parsed with the grammar of the real API server
 * (k8s.io/apimachinery/pkg/labels and pkg/fields).
 */
import type { KubeObject } from "./resources.js";

/** A selector that cannot be parsed; the server answers 400 BadRequest with this message. */
export class SelectorError extends Error {
  readonly reason = "BadRequest";
  constructor(message: string) {
    super(message);
    this.name = "SelectorError";
  }
}

export type Matcher = (object: KubeObject) => boolean;

/** Splits on commas outside parentheses (`a in (x,y),b`). */
function splitTerms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth += 1;
    if (ch === ")") depth -= 1;
    if (ch === "," && depth === 0) {
      out.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

const labelKey =
  /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string): string {
  if (!labelKey.test(key))
    throw new SelectorError(`unable to parse requirement: invalid label key "${key}"`);
  return key;
}
function checkValue(value: string): string {
  if (!labelValue.test(value))
    throw new SelectorError(`unable to parse requirement: invalid label value: "${value}"`);
  return value;
}

/** `app=web,tier!=db,env in (a,b),!legacy,release`. An empty selector matches everything. */
export function parseLabelSelector(selector: string | null | undefined): Matcher {
  if (!selector) return () => true;
  const requirements: ((labels: Record<string, string>) => boolean)[] = [];
  for (const term of splitTerms(selector)) {
    let m: RegExpMatchArray | null;
    if ((m = term.match(/^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const key = checkKey(m[1]!);
      const values = m[3]!.split(",").map((v) => checkValue(v.trim()));
      const positive = m[2] === "in";
      requirements.push((labels) =>
        positive
          ? key in labels && values.includes(labels[key]!)
          : !(key in labels) || !values.includes(labels[key]!),
      );
    } else if ((m = term.match(/^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      const key = checkKey(m[1]!);
      const value = checkValue(m[3]!);
      const negated = m[2] === "!=";
      requirements.push((labels) => (negated ? labels[key] !== value : labels[key] === value));
    } else if ((m = term.match(/^!\s*(\S+)$/))) {
      const key = checkKey(m[1]!);
      requirements.push((labels) => !(key in labels));
    } else if ((m = term.match(/^(\S+)$/))) {
      const key = checkKey(m[1]!);
      requirements.push((labels) => key in labels);
    } else {
      throw new SelectorError(
        `unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`,
      );
    }
  }
  return (object) => {
    const labels = object.metadata.labels ?? {};
    return requirements.every((r) => r(labels));
  };
}

function fieldValue(object: KubeObject, path: string): string {
  let node: unknown = object;
  for (const part of path.split("."))
    node =
      typeof node === "object" && node !== null
        ? (node as Record<string, unknown>)[part]
        : undefined;
  if (node === undefined || node === null) return "";
  return String(node);
}

/**
 * `metadata.name=web,status.phase!=Running`. Only `metadata.name`, `metadata.namespace` and the
 * kind's own field labels are allowed; anything else is the real server's 400.
 */
export function parseFieldSelector(
  selector: string | null | undefined,
  allowed: readonly string[],
  kind: string,
): Matcher {
  if (!selector) return () => true;
  const requirements: Matcher[] = [];
  for (const term of splitTerms(selector)) {
    const m = term.match(/^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = m[1]!;
    if (field !== "metadata.name" && field !== "metadata.namespace" && !allowed.includes(field)) {
      throw new SelectorError(
        `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"${allowed.map((a) => `, "${a}"`).join("")} (kind ${kind})`,
      );
    }
    const value = m[3]!;
    const negated = m[2] === "!=";
    requirements.push((object) =>
      negated ? fieldValue(object, field) !== value : fieldValue(object, field) === value,
    );
  }
  return (object) => requirements.every((r) => r(object));
}
