import { describe, expect, it } from "vitest";
import { ManifestError } from "./errors.js";
import { parseManifests } from "./manifests.js";

describe("parseManifests", () => {
  it("reads every document of a multi-document YAML file with its starting line", () => {
    const text = [
      "apiVersion: kiln.dev/v1",
      "kind: ImageStream",
      "metadata: {name: hello}",
      "---",
      "# a comment",
      "apiVersion: kiln.dev/v1",
      "kind: BuildConfig",
      "metadata: {name: hello}",
      "---",
      "",
    ].join("\n");
    const docs = parseManifests(text, "app.yaml");
    expect(docs.map((d) => [d.object.kind, d.line])).toEqual([
      ["ImageStream", 1],
      ["BuildConfig", 6],
    ]);
  });

  it("names the file and line of a syntax error", () => {
    const text = [
      "kind: BuildConfig",
      "metadata:",
      "  name: hello",
      "spec:",
      "\tsource: {}",
      "---",
      "kind: x",
    ].join("\n");
    let error: unknown;
    try {
      parseManifests(text, "broken.yaml");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ManifestError);
    const e = error as ManifestError;
    expect(e.file).toBe("broken.yaml");
    expect(e.line).toBe(5);
    expect(e.message).toMatch(/^broken\.yaml:5: /);
  });

  it("reports an error in a later document at that document's line", () => {
    const text = ["kind: A", "---", "kind: B", "metadata:", "  name: x", " bad: indent", ""].join(
      "\n",
    );
    expect(() => parseManifests(text, "two.yaml")).toThrow(
      /^two\.yaml:6: All mapping items must start at the same column/,
    );
  });

  it("refuses duplicate keys instead of silently keeping the last one", () => {
    expect(() => parseManifests("kind: A\nkind: B\n", "dup.yaml")).toThrow(/dup\.yaml:2: /);
  });

  it("accepts JSON", () => {
    const docs = parseManifests(
      '{"apiVersion":"kiln.dev/v1","kind":"ImageStream","metadata":{"name":"x"}}',
      "x.json",
    );
    expect(docs[0]?.object.kind).toBe("ImageStream");
  });

  it("flattens a List", () => {
    const docs = parseManifests("kind: List\nitems:\n  - kind: A\n  - kind: B\n", "list.yaml");
    expect(docs.map((d) => d.object.kind)).toEqual(["A", "B"]);
  });

  it("refuses a document that is not a mapping", () => {
    expect(() => parseManifests("kind: A\n---\n- just\n- a list\n", "l.yaml")).toThrow(
      /l\.yaml:3: a document must be a mapping/,
    );
  });

  it("returns nothing for a file of comments", () => {
    expect(parseManifests("# nothing here\n", "empty.yaml")).toEqual([]);
  });
});
