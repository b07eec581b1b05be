import { describe, expect, it } from "vitest";
import { parseS2IIgnore } from "./s2i-ignore.js";

describe("parseS2IIgnore", () => {
  const ignore = parseS2IIgnore("# local files\n*.log\n/tmp\ndocs/*.md\n!keep.log\n\n");
  it("matches globs at their depth, never across a slash", () => {
    expect(ignore.ignores("debug.log")).toBe(true);
    expect(ignore.ignores("sub/debug.log")).toBe(false);
    expect(ignore.ignores("docs/a.md")).toBe(true);
    expect(ignore.ignores("docs/deep/a.md")).toBe(false);
  });
  it("ignores everything below a matched directory", () => {
    expect(ignore.ignores("tmp")).toBe(true);
    expect(ignore.ignores("tmp/cache/file")).toBe(true);
    expect(ignore.ignores("tmpfile")).toBe(false);
  });
  it("skips comments and ! lines, which s2i does not support", () => {
    expect(ignore.patterns).toEqual(["*.log", "tmp", "docs/*.md"]);
  });
  it("ignores nothing without a file", () => {
    expect(parseS2IIgnore(null).ignores("anything")).toBe(false);
  });
});
