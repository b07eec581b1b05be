import { describe, expect, test } from "vitest";
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  PatchApplyError,
} from "./patch.js";
import { parseFieldSelector, parseLabelSelector, SelectorError } from "./selectors.js";

describe("patches of the stand-in API server", () => {
  test("applies every RFC 6902 operation and fails a test that does not hold", () => {
    const doc = { a: { b: [1, 2] }, c: "x", "d/e": 1 };
    const out = applyJsonPatch(doc, [
      { op: "add", path: "/a/b/-", value: 3 },
      { op: "add", path: "/a/b/0", value: 0 },
      { op: "remove", path: "/c" },
      { op: "replace", path: "/d~1e", value: 2 },
      { op: "copy", from: "/a/b", path: "/f" },
      { op: "move", from: "/f", path: "/g" },
      { op: "test", path: "/g", value: [0, 1, 2, 3] },
    ]);
    expect(out).toEqual({ a: { b: [0, 1, 2, 3] }, "d/e": 2, g: [0, 1, 2, 3] });
    expect(doc).toEqual({ a: { b: [1, 2] }, c: "x", "d/e": 1 });
    expect(() => applyJsonPatch(doc, [{ op: "test", path: "/c", value: "y" }])).toThrow(
      PatchApplyError,
    );
    expect(() => applyJsonPatch(doc, [{ op: "replace", path: "/nope", value: 1 }])).toThrow(
      /missing/,
    );
  });

  test("applies an RFC 7386 merge patch", () => {
    expect(applyMergePatch({ a: "b", c: { d: "e", f: "g" } }, { a: "z", c: { f: null } })).toEqual({
      a: "z",
      c: { d: "e" },
    });
    expect(applyMergePatch({ a: [1, 2] }, { a: [3] })).toEqual({ a: [3] });
  });

  test("merges keyed lists in a strategic merge patch and replaces the others", () => {
    const doc = {
      containers: [
        { name: "a", image: "a:1", env: [{ name: "X", value: "1" }], args: ["1"] },
        { name: "b", image: "b:1" },
      ],
      finalizers: ["f1"],
    };
    const out = applyStrategicMergePatch(doc, {
      "$setElementOrder/containers": [{ name: "a" }, { name: "b" }],
      containers: [
        { name: "b", image: "b:2" },
        { name: "c", image: "c:1" },
        { name: "a", env: [{ name: "Y", value: "2" }], args: ["2"] },
      ],
      finalizers: ["f2"],
    });
    expect(out).toEqual({
      containers: [
        {
          name: "a",
          image: "a:1",
          env: [
            { name: "X", value: "1" },
            { name: "Y", value: "2" },
          ],
          args: ["2"],
        },
        { name: "b", image: "b:2" },
        { name: "c", image: "c:1" },
      ],
      finalizers: ["f1", "f2"],
    });
    expect(
      applyStrategicMergePatch(doc, { containers: [{ name: "a", $patch: "delete" }] }),
    ).toMatchObject({ containers: [{ name: "b" }] });
    expect(() => applyStrategicMergePatch(doc, { containers: [{ image: "x" }] })).toThrow(
      /merge key/,
    );
  });
});

describe("selectors of the stand-in API server", () => {
  const obj = (labels: Record<string, string>) => ({
    metadata: { name: "web", namespace: "ns", labels },
  });
  test("parses label selectors as the real server does", () => {
    const m = parseLabelSelector("app=web,tier in (front, back),!legacy,env");
    expect(m(obj({ app: "web", tier: "front", env: "x" }))).toBe(true);
    expect(m(obj({ app: "web", tier: "db", env: "x" }))).toBe(false);
    expect(m(obj({ app: "web", tier: "front", env: "x", legacy: "1" }))).toBe(false);
    expect(() => parseLabelSelector("app=(x")).toThrow(SelectorError);
  });
  test("allows only known field selectors", () => {
    expect(parseFieldSelector("metadata.name=web", [], "Deployment")(obj({}))).toBe(true);
    expect(parseFieldSelector("metadata.name!=web", [], "Deployment")(obj({}))).toBe(false);
    expect(() => parseFieldSelector("spec.replicas=1", [], "Deployment")).toThrow(SelectorError);
  });
});
