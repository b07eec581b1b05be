import { describe, expect, it } from "vitest";
import {
  dns1123LabelPattern,
  jobNameFor,
  labelValueFor,
  labelValuePattern,
  randomSuffix,
} from "./names.js";

describe("jobNameFor", () => {
  it("names a Job after the build, readable and a DNS-1123 label", () => {
    expect(jobNameFor({ namespace: "default", name: "hello-3" }, "abcde")).toBe(
      "kiln-default-hello-3-abcde",
    );
    // Dots are allowed in Kiln's names but not in a label.
    const dotted = jobNameFor({ namespace: "team-a", name: "api.v2-10" }, "abcde");
    expect(dotted).toBe("kiln-team-a-api-v2-10-abcde");
    expect(dotted).toMatch(dns1123LabelPattern);
  });

  it("cuts long names to 63 characters with a hash of the whole", () => {
    for (let length = 40; length < 300; length += 7) {
      const name = jobNameFor({ namespace: "ns", name: `${"x-".repeat(length)}1` }, randomSuffix());
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(dns1123LabelPattern);
    }
  });
});

describe("labelValueFor", () => {
  it("keeps a short name and cuts a long one to a valid label value", () => {
    expect(labelValueFor("hello-3")).toBe("hello-3");
    const long = labelValueFor(`${"a.".repeat(60)}b`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(labelValuePattern);
    expect(labelValueFor(`${"a.".repeat(60)}c`)).not.toBe(long);
  });
});

describe("randomSuffix", () => {
  it("makes 5 characters a Job name may end with", () => {
    for (let i = 0; i < 50; i++) expect(randomSuffix()).toMatch(/^[a-z0-9]{5}$/);
  });
});
