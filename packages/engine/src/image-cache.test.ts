import { describe, expect, it } from "vitest";
import { parseHumanSize } from "./image-cache.js";

describe("parseHumanSize", () => {
  it("reads buildah's decimal sizes", () => {
    expect(parseHumanSize("2 MB")).toBe(2_000_000);
    expect(parseHumanSize("737 MB")).toBe(737_000_000);
    expect(parseHumanSize("1.21 GB")).toBe(1_210_000_000);
    expect(parseHumanSize("512 B")).toBe(512);
    expect(parseHumanSize("3.5 kB")).toBe(3_500);
    expect(parseHumanSize("unknown")).toBe(0);
  });
});
