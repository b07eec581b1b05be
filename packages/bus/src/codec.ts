import type { z } from "zod";
import { DecodeError } from "./errors.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON + zod: a payload that does not match its schema is never published nor handled. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(data: Uint8Array, subject: string): T;
}

export function jsonCodec<S extends z.ZodType>(schema: S): Codec<z.output<S>> {
  return {
    encode: (value) => encoder.encode(JSON.stringify(schema.parse(value))),
    decode: (data, subject) => {
      let json: unknown;
      try {
        json = JSON.parse(decoder.decode(data));
      } catch {
        throw new DecodeError(subject, "payload is not JSON");
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        throw new DecodeError(
          subject,
          parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
        );
      }
      return parsed.data;
    },
  };
}
