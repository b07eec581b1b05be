import { describe, expect, it } from "vitest";
import { parseEnvFlags } from "./start-build.js";

describe("parseEnvFlags", () => {
  it("splits NAME=value on the first equals sign", () => {
    expect(parseEnvFlags(["A=1", "B=x=y", "C="])).toEqual([
      { name: "A", value: "1" },
      { name: "B", value: "x=y" },
      { name: "C", value: "" },
    ]);
  });

  it("refuses a flag without a name", () => {
    expect(() => parseEnvFlags(["=1"])).toThrow(/NAME=value/);
    expect(() => parseEnvFlags(["JUSTNAME"])).toThrow(/NAME=value/);
  });
});
