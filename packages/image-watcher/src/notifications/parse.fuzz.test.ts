import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NotificationParseError } from "../errors.js";
import { eventsV1MediaType } from "./distribution.js";
import { parseNotification } from "./parse.js";
import { notificationSources } from "./push-hint.js";

const fixtures = readdirSync(new URL("../fixtures/", import.meta.url))
  .filter((f) => f.endsWith(".json"))
  .map((f) => readFileSync(new URL(`../fixtures/${f}`, import.meta.url), "utf8"));

/** mulberry32: a seeded generator, so a failure names the seed that reproduces it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const weird: unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  "",
  "x".repeat(300),
  [],
  {},
  [[]],
  { events: null },
  "sha256:",
  { tag: 1 },
  "__proto__",
];

/** Replaces a random value somewhere in a JSON tree with a weird one (or deletes it). */
function mutateJson(value: unknown, next: () => number, depth = 0): unknown {
  if (depth > 0 && next() < 0.15) return weird[Math.floor(next() * weird.length)];
  if (Array.isArray(value)) return value.map((v) => mutateJson(v, next, depth + 1));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      if (next() > 0.05) out[k] = mutateJson(v, next, depth + 1);
    return out;
  }
  return value;
}

function mutateBytes(text: string, next: () => number): string {
  const chars = [...text];
  const edits = 1 + Math.floor(next() * 8);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(next() * (chars.length + 1));
    const op = next();
    if (op < 0.33) chars.splice(at, 1);
    else if (op < 0.66) chars.splice(at, 0, String.fromCharCode(Math.floor(next() * 0x2fff)));
    else chars.splice(at, Math.floor(next() * 40));
  }
  return chars.join("");
}

describe("notification parsers under fuzzing", () => {
  it("throw nothing but NotificationParseError, and end quickly, for 6000 seeded inputs", () => {
    const seed = 20_251_122;
    const next = rng(seed);
    const started = Date.now();
    for (let i = 0; i < 6000; i++) {
      const base = fixtures[i % fixtures.length]!;
      const kind = i % 3;
      const body =
        kind === 0
          ? JSON.stringify(mutateJson(JSON.parse(base), next))
          : kind === 1
            ? mutateBytes(base, next)
            : Buffer.from(
                Array.from({ length: Math.floor(next() * 200) }, () => Math.floor(next() * 256)),
              ).toString("utf8");
      const source = notificationSources[Math.floor(next() * notificationSources.length)]!;
      const contentType =
        next() < 0.8
          ? source === "distribution"
            ? eventsV1MediaType
            : "application/json"
          : "text/html";
      try {
        const parsed = parseNotification(source, contentType, body);
        expect(Array.isArray(parsed.hints)).toBe(true);
        for (const hint of parsed.hints) expect(typeof hint.tag).toBe("string");
      } catch (error) {
        if (!(error instanceof NotificationParseError))
          throw new Error(
            `seed ${seed} input ${i} (${source}) threw ${String(error)}: ${body.slice(0, 200)}`,
          );
      }
    }
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("refuses a deeply nested body without overflowing the stack", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    for (const source of notificationSources)
      expect(() => parseNotification(source, "application/json", deep)).toThrow(
        NotificationParseError,
      );
  });
});
