import { describe, expect, it } from "vitest";
import { WebhookParseError } from "./errors.js";
import { recordedDeliveries } from "./fixtures/recorded.js";
import { hookTypes } from "./providers/index.js";

/** mulberry32: a small seeded PRNG, so a failure reproduces from the seed printed with it. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const interesting = [
  "null",
  "[]",
  "{}",
  '""',
  "0",
  "-1e999",
  '"refs/heads/main"',
  "true",
  '{"__proto__":{"x":1}}',
  '"0000000000000000000000000000000000000000"',
];

function mutate(source: Buffer, rand: () => number): Buffer {
  const bytes = Buffer.from(source);
  const pick = Math.floor(rand() * 6);
  if (pick === 0) {
    // Flip random bytes.
    for (let i = 0; i < 1 + rand() * 8; i += 1)
      bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    return bytes;
  }
  if (pick === 1) return bytes.subarray(0, Math.floor(rand() * bytes.length));
  if (pick === 2) {
    // Replace a JSON value with a value of another type.
    const text = bytes.toString();
    const colons = [...text.matchAll(/:\s*/g)].map((m) => m.index! + m[0].length);
    const at = colons[Math.floor(rand() * colons.length)] ?? 0;
    const end = text.slice(at).search(/[,}\]]/);
    return Buffer.from(
      text.slice(0, at) +
        interesting[Math.floor(rand() * interesting.length)]! +
        text.slice(at + (end < 0 ? 0 : end)),
    );
  }
  if (pick === 3) {
    const random = Buffer.alloc(Math.floor(rand() * 512));
    for (let i = 0; i < random.length; i += 1) random[i] = Math.floor(rand() * 256);
    return random;
  }
  if (pick === 4) return Buffer.from(`${"[".repeat(1 + Math.floor(rand() * 5000))}`);
  return Buffer.concat([bytes, bytes.subarray(0, Math.floor(rand() * bytes.length))]);
}

const headerNames = [
  "x-github-event",
  "x-github-delivery",
  "x-gitlab-event",
  "x-gitlab-event-uuid",
  "x-gitea-event",
  "x-gogs-event",
  "x-event-key",
  "x-request-id",
  "content-type",
];

describe("fuzzing every parser", () => {
  const iterations = 2_000;
  for (const seed of [1, 2]) {
    it(`throws nothing but WebhookParseError on ${iterations} mutated and random inputs (seed ${seed})`, () => {
      const rand = prng(seed);
      const started = Date.now();
      for (let i = 0; i < iterations; i += 1) {
        const base = recordedDeliveries[Math.floor(rand() * recordedDeliveries.length)]!;
        const headers = { ...base.headers };
        if (rand() < 0.2) {
          const name = headerNames[Math.floor(rand() * headerNames.length)]!;
          headers[name] =
            rand() < 0.5
              ? undefined
              : String.fromCharCode(
                  ...Array.from({ length: 8 }, () => Math.floor(rand() * 0x3000)),
                );
        }
        const body = mutate(base.body, rand);
        for (const def of Object.values(hookTypes)) {
          const t0 = Date.now();
          try {
            def.parse(headers, body);
          } catch (error) {
            if (!(error instanceof WebhookParseError))
              throw new Error(`seed ${seed} iteration ${i}: ${String(error)}`, { cause: error });
          }
          // A parser must stay linear: no input of this size may take long.
          expect(Date.now() - t0).toBeLessThan(250);
        }
      }
      expect(Date.now() - started).toBeLessThan(20_000);
    });
  }
});
