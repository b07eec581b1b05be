/**
 * The three patch formats of the Kubernetes API, applied the way the real API server applies
 * them: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.
 *
 * Strategic merge is driven by the Go struct tags (`patchMergeKey`) in the real server; the
 * stand-in has no schema, so it knows the merge keys by field name for the fields of the kinds
 * it serves (see `mergeKeys`). Any other list is replaced, which is what the real server does
 * for lists without a merge strategy (`args`, `command`, `tolerations`, …).
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A patch that cannot be applied; the server answers 422 Invalid with this message. */
export class PatchApplyError extends Error {
  readonly reason = "Invalid";
  constructor(message: string) {
    super(message);
    this.name = "PatchApplyError";
  }
}

const isObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// RFC 6902 JSON patch

type JsonPatchOp =
  | { op: "add" | "replace" | "test"; path: string; value: Json }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; from: string; path: string };

function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/"))
    throw new PatchApplyError(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** The container of the last token, and that token. */
function locate(
  doc: Json,
  tokens: string[],
  path: string,
  op: string,
): { parent: Json; key: string } {
  let node: Json = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) {
      const index = arrayIndex(token, node.length - 1, path, op);
      node = node[index] as Json;
    } else if (isObject(node) && Object.hasOwn(node, token)) {
      node = node[token] as Json;
    } else {
      throw new PatchApplyError(
        `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}`,
      );
    }
  }
  return { parent: node, key: tokens[tokens.length - 1] ?? "" };
}

function arrayIndex(token: string, max: number, path: string, op: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token))
    throw new PatchApplyError(
      `${op} operation does not apply: invalid array index in ${JSON.stringify(path)}`,
    );
  const index = Number(token);
  if (index > max)
    throw new PatchApplyError(
      `${op} operation does not apply: index out of bounds in ${JSON.stringify(path)}`,
    );
  return index;
}

function getAt(doc: Json, path: string, op: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return doc;
  const { parent, key } = locate(doc, tokens, path, op);
  if (Array.isArray(parent)) return parent[arrayIndex(key, parent.length - 1, path, op)] as Json;
  if (isObject(parent) && Object.hasOwn(parent, key)) return parent[key] as Json;
  throw new PatchApplyError(
    `${op} operation does not apply: doc is missing key: ${JSON.stringify(path)}`,
  );
}

function removeAt(doc: Json, path: string, op: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0)
    throw new PatchApplyError(`${op} operation does not apply: cannot remove the whole document`);
  const { parent, key } = locate(doc, tokens, path, op);
  if (Array.isArray(parent))
    return parent.splice(arrayIndex(key, parent.length - 1, path, op), 1)[0] as Json;
  if (isObject(parent) && Object.hasOwn(parent, key)) {
    const old = parent[key] as Json;
    delete parent[key];
    return old;
  }
  throw new PatchApplyError(
    `${op} operation does not apply: doc is missing key: ${JSON.stringify(path)}`,
  );
}

function addAt(doc: Json, path: string, value: Json, op: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = locate(doc, tokens, path, op);
  if (Array.isArray(parent)) {
    if (key === "-") parent.push(value);
    else parent.splice(arrayIndex(key, parent.length, path, op), 0, value);
  } else if (isObject(parent)) {
    parent[key] = value;
  } else {
    throw new PatchApplyError(
      `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}`,
    );
  }
  return doc;
}

function replaceAt(doc: Json, path: string, value: Json, op: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = locate(doc, tokens, path, op);
  if (Array.isArray(parent)) parent[arrayIndex(key, parent.length - 1, path, op)] = value;
  else if (isObject(parent) && Object.hasOwn(parent, key)) parent[key] = value;
  else throw new PatchApplyError(`replace operation does not apply: doc is missing key: ${path}`);
  return doc;
}

/** Applies an RFC 6902 patch to a copy of `doc`. A failed `test` throws (`testing value … failed`). */
export function applyJsonPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch))
    throw new PatchApplyError("a JSON patch must be an array of operations");
  let out = clone(doc) as Json;
  for (const raw of patch as unknown[]) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw new PatchApplyError(`invalid JSON patch operation ${JSON.stringify(raw)}`);
    }
    const op = raw as unknown as JsonPatchOp;
    switch (op.op) {
      case "add":
        if (!("value" in op)) throw new PatchApplyError(`add operation is missing a value`);
        out = addAt(out, op.path, clone(op.value), "add");
        break;
      case "remove":
        removeAt(out, op.path, "remove");
        break;
      case "replace":
        if (!("value" in op)) throw new PatchApplyError(`replace operation is missing a value`);
        out = replaceAt(out, op.path, clone(op.value), "replace");
        break;
      case "move": {
        const value = removeAt(out, op.from, "move");
        out = addAt(out, op.path, value, "move");
        break;
      }
      case "copy":
        out = addAt(out, op.path, clone(getAt(out, op.from, "copy")), "copy");
        break;
      case "test": {
        let actual: Json | undefined;
        try {
          actual = getAt(out, op.path, "test");
        } catch {
          actual = undefined;
        }
        if (actual === undefined || !jsonEqual(actual, op.value))
          throw new PatchApplyError(`testing value ${op.path} failed: test failed`);
        break;
      }
      default:
        throw new PatchApplyError(`Unexpected kind: ${String((op as { op: unknown }).op)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// RFC 7386 JSON merge patch

/** Applies an RFC 7386 merge patch: objects merge, `null` deletes, everything else replaces. */
export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(doc) ? clone(doc) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value) as Json;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

/**
 * Lists merged by a key instead of replaced, as the Go types of the served kinds declare them
 * (`patchStrategy:"merge" patchMergeKey:"…"`). `null` key: a list of scalars merged as a set.
 */
const mergeKeys: Readonly<Record<string, string | null>> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  ports: "containerPort",
  imagePullSecrets: "name",
  hostAliases: "ip",
  conditions: "type",
  ownerReferences: "uid",
  topologySpreadConstraints: "topologyKey",
  resourceClaims: "name",
  finalizers: null,
};

/**
 * Applies a strategic merge patch: maps merge, `null` deletes, lists in `mergeKeys` merge item
 * by key (`{"$patch": "delete"}` removes an item, `{"$patch": "replace"}` replaces the list),
 * other lists are replaced. `$setElementOrder/…` directives (kubectl sends them) are accepted
 * and ignored; `$retainKeys` keeps only the listed keys.
 */
export function applyStrategicMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw new PatchApplyError("a strategic merge patch must be a JSON object");
  return mergeMap(isObject(doc) ? clone(doc) : {}, patch) ?? {};
}

function mergeMap(target: JsonObject, patch: JsonObject): JsonObject | undefined {
  const directive = patch.$patch;
  if (directive === "delete") return undefined;
  if (directive === "replace") {
    const replaced = clone(patch);
    delete replaced.$patch;
    return stripDirectives(replaced) as JsonObject;
  }
  if (directive !== undefined)
    throw new PatchApplyError(
      `unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`,
    );
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith("$setElementOrder/") || key === "$retainKeys") continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const current = target[field];
      if (Array.isArray(current) && Array.isArray(value))
        target[field] = current.filter((x) => !value.some((v) => jsonEqual(v, x)));
      continue;
    }
    if (value === null) {
      delete target[key];
      continue;
    }
    const current = target[key];
    if (isObject(value)) {
      const merged = mergeMap(isObject(current) ? current : {}, value);
      if (merged === undefined) delete target[key];
      else target[key] = merged;
    } else if (Array.isArray(value) && Object.hasOwn(mergeKeys, key)) {
      target[key] = mergeList(
        Array.isArray(current) ? current : [],
        value,
        mergeKeys[key] ?? null,
        key,
      );
    } else {
      target[key] = stripDirectives(clone(value));
    }
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const key of Object.keys(target)) if (!retain.includes(key)) delete target[key];
  }
  return target;
}

function mergeList(target: Json[], patch: Json[], key: string | null, field: string): Json[] {
  if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
    return patch
      .filter((item) => !(isObject(item) && item.$patch === "replace"))
      .map((item) => stripDirectives(clone(item)));
  }
  if (key === null) {
    const out = [...target];
    for (const item of patch) if (!out.some((x) => jsonEqual(x, item))) out.push(clone(item));
    return out;
  }
  const out = [...target];
  for (const item of patch) {
    if (!isObject(item) || !Object.hasOwn(item, key)) {
      throw new PatchApplyError(
        `map: ${JSON.stringify(item)} does not contain declared merge key: ${key} (in ${field})`,
      );
    }
    const index = out.findIndex((x) => isObject(x) && jsonEqual(x[key], item[key]));
    if (item.$patch === "delete") {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const merged = mergeMap(out[index] as JsonObject, item);
      if (merged === undefined) out.splice(index, 1);
      else out[index] = merged;
    } else {
      out.push(stripDirectives(clone(item)));
    }
  }
  return out;
}

function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith("$")) continue;
    out[k] = stripDirectives(v);
  }
  return out;
}
