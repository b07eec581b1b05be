import { describe, expect, it } from "vitest";
import { columnWidths, renderRows, renderTable } from "./table.js";

describe("renderTable", () => {
  it("aligns columns under uppercase headers with three spaces between them", () => {
    const out = renderTable(
      ["name", "type", "latest"],
      [
        ["hello", "Docker", "3"],
        ["a-much-longer-name", "Source", "12"],
      ],
    );
    expect(out).toBe(
      [
        "NAME                 TYPE     LATEST",
        "hello                Docker   3",
        "a-much-longer-name   Source   12",
        "",
      ].join("\n"),
    );
  });

  it("leaves no trailing whitespace when the last cells are empty", () => {
    const out = renderTable(["NAME", "STARTED", "DURATION"], [["hello-1", "", ""]]);
    for (const line of out.split("\n")) expect(line).toBe(line.trimEnd());
  });

  it("keeps a multi-line cell on one row", () => {
    const out = renderTable(["NAME", "STATUS"], [["x", "Failed\n(oops)"]]);
    expect(out.split("\n")).toHaveLength(3);
    expect(out).toContain("Failed (oops)");
  });

  it("measures width in characters, not UTF-16 units", () => {
    const out = renderTable(
      ["A", "B"],
      [
        ["😀😀", "x"],
        ["abcd", "y"],
      ],
    );
    const [, first, second] = out.split("\n");
    // Both in the same column when counted in code points (the emoji take two UTF-16 units each).
    expect([...(first ?? "")].indexOf("x")).toBe(7);
    expect([...(second ?? "")].indexOf("y")).toBe(7);
  });
});

describe("renderRows", () => {
  it("lays later rows out under the first table's columns; a wider cell pushes only its row", () => {
    const rows = [["hello-1", "Complete", "1m"]];
    const widths = columnWidths(["NAME", "STATUS", "DURATION"], rows);
    expect(renderTable(["NAME", "STATUS", "DURATION"], rows)).toBe(
      ["NAME      STATUS     DURATION", "hello-1   Complete   1m", ""].join("\n"),
    );
    expect(renderRows([["hello-2", "New", ""]], widths)).toBe("hello-2   New\n");
    expect(renderRows([["a-longer-name-3", "Running", "5s"]], widths)).toBe(
      "a-longer-name-3   Running    5s\n",
    );
  });
});
