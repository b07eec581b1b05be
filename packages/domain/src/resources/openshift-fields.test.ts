import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { buildConfigSpecSchema } from "./build-config.js";
import {
  coveringEntries,
  FieldTreatment,
  openShiftFields,
  OpenShiftKind,
} from "./openshift-fields.js";
import { parseResourceWithWarnings } from "./parse.js";
// OpenShift's published schema, walked by scripts/openshift-build-fields.mjs (source and commit in its $comment).
import schema from "./testdata/openshift-build-v1-fields.json" with { type: "json" };

const kinds = Object.values(OpenShiftKind);
const treatments = Object.values(FieldTreatment);

describe("every field of OpenShift's BuildConfig and Build", () => {
  it.each(kinds)("%s: each field is in exactly one list, by exactly one entry", (kind) => {
    const wrong = schema[kind].flatMap((path) => {
      const covering = treatments.flatMap((t) =>
        coveringEntries(openShiftFields[kind][t], path).map((entry) => `${t} ${entry}`),
      );
      return covering.length === 1 ? [] : [`${path}: ${covering.join(", ") || "in no list"}`];
    });
    expect(wrong).toEqual([]);
  });

  it.each(kinds)("%s: each entry names a field of OpenShift's schema", (kind) => {
    const stale = treatments.flatMap((t) =>
      Object.keys(openShiftFields[kind][t]).filter(
        (entry) => !schema[kind].some((path) => coveringEntries({ [entry]: "" }, path).length),
      ),
    );
    expect(stale).toEqual([]);
  });
});

/** A valid OpenShift BuildConfig with every block a listed field sits in. */
function baseDocument(strategy: "sourceStrategy" | "dockerStrategy") {
  const image = (name: string) => ({ kind: "ImageStreamTag", name });
  return {
    apiVersion: "build.openshift.io/v1",
    kind: "BuildConfig",
    metadata: { name: "fields" },
    spec: {
      source: {
        git: { uri: "https://example.test/app.git" },
        images: [
          { from: image("tools:latest"), paths: [{ sourcePath: "/bin/x", destinationDir: "x" }] },
        ],
      },
      strategy: {
        [strategy]: {
          from: image("builder:latest"),
          env: [{ name: "A", value: "1" }],
          ...(strategy === "dockerStrategy" ? { buildArgs: [{ name: "B", value: "2" }] } : {}),
        },
      },
      output: { to: image("app:latest") },
      triggers: [{ type: "ImageChange", imageChange: { from: image("builder:latest") } }],
    },
  };
}

/** Sets `value` at a schema path (`a.list[].b`, a list's first item) and returns the concrete path. */
function setAt(doc: Record<string, unknown>, schemaPath: string, value: unknown): string {
  const parts = schemaPath.replace(/\.\*\*$/, "").split(".");
  let node: Record<string, unknown> = doc;
  const concrete: string[] = [];
  parts.forEach((part, i) => {
    const name = part.replace(/\[\]$/, "");
    const list = part.endsWith("[]");
    if (i === parts.length - 1) {
      node[name] = list ? [value] : value;
      concrete.push(name);
      return;
    }
    if (list) {
      const items = (node[name] ??= [{}]) as Record<string, unknown>[];
      node = items[0]!;
      concrete.push(`${name}[0]`);
    } else {
      node = (node[name] ??= {}) as Record<string, unknown>;
      concrete.push(name);
    }
  });
  return concrete.join(".");
}

function documentSetting(path: string, value: unknown) {
  const doc = baseDocument(path.includes("dockerStrategy") ? "dockerStrategy" : "sourceStrategy");
  return { doc, at: setAt(doc, path, value) };
}

function issuesOf(doc: unknown) {
  try {
    parseResourceWithWarnings(doc);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
}

describe("applying a BuildConfig that sets a listed field", () => {
  const { refused, warned, honoured } = openShiftFields.BuildConfig;

  it("the base document applies with no warning", () => {
    for (const strategy of ["sourceStrategy", "dockerStrategy"] as const)
      expect(parseResourceWithWarnings(baseDocument(strategy)).warnings).toEqual([]);
  });

  it.each(Object.keys(refused))("refused: %s fails naming the field", (entry) => {
    const { doc, at } = documentSetting(entry, "x");
    expect(issuesOf(doc)).toContainEqual({
      path: at,
      message: `not supported by Kiln: ${refused[entry]}`,
    });
  });

  it.each(Object.keys(warned))("warned: %s applies, warns and is stored", (entry) => {
    const { doc, at } = documentSetting(entry, "x");
    const { resource, warnings } = parseResourceWithWarnings(doc);
    expect(warnings).toEqual([
      { path: at, message: `stored, but has no effect: ${warned[entry]}` },
    ]);
    const stored = at
      .split(/\.|\[(\d+)\]/)
      .filter((p) => p)
      .reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], resource);
    expect(stored).toBe("x");
  });

  it("honoured: each field is known to Kiln's own schema (not dropped)", () => {
    const strict = buildConfigSpecSchema("strict");
    const unknown = Object.keys(honoured)
      .filter((entry) => entry.startsWith("spec."))
      .filter((entry) => {
        const { doc } = documentSetting(entry, "x");
        const result = strict.safeParse(doc.spec);
        return result.error?.issues.some((i) => i.code === "unrecognized_keys");
      });
    expect(unknown).toEqual([]);
  });

  it("a field no list knows is dropped with a warning, as kubectl warns", () => {
    const doc = baseDocument("sourceStrategy") as Record<string, any>;
    doc.spec.source.git.depth = 1;
    expect(parseResourceWithWarnings(doc).warnings).toEqual([
      { path: "spec.source.git.depth", message: "unknown field, not read by Kiln (dropped)" },
    ]);
  });

  it("a refused field set to nothing asks for nothing", () => {
    const doc = baseDocument("sourceStrategy") as Record<string, any>;
    doc.spec.mountTrustedCA = false;
    doc.spec.source.configMaps = [];
    expect(parseResourceWithWarnings(doc).warnings).toEqual([]);
  });

  it("a kiln.dev/v1 document is refused the same way", () => {
    const doc = { ...baseDocument("sourceStrategy"), apiVersion: "kiln.dev/v1" } as Record<
      string,
      any
    >;
    doc.spec.strategy.customStrategy = { from: { kind: "DockerImage", name: "x" } };
    expect(issuesOf(doc)).toEqual([
      {
        path: "spec.strategy.customStrategy",
        message: `not supported by Kiln: ${refused["spec.strategy.customStrategy.**"]}`,
      },
    ]);
  });
});
