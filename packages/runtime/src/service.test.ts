import { describe, expect, it } from "vitest";
import { z } from "zod";
import { baseConfigShape, configJsonSchema } from "./service.js";

describe("configJsonSchema", () => {
  const schema = z
    .object({
      ...baseConfigShape,
      DATABASE_URL: z.string().min(1),
      PORT: z.coerce.number().int().default(18080),
      LIST: z
        .string()
        .default("")
        .transform((s) => s.split(",")),
      OPTIONAL_TOKEN: z.string().min(16).optional(),
    })
    .superRefine(() => undefined);

  it("requires exactly the variables without a default, and shows the defaults", () => {
    const json = configJsonSchema(schema) as {
      required: string[];
      properties: Record<string, { default?: unknown }>;
    };
    expect(json.required).toEqual(["DATABASE_URL"]);
    expect(json.properties.PORT?.default).toBe(18080);
    expect(json.properties.NATS_URL?.default).toBe("nats://127.0.0.1:14222");
    // Transforms and refinements do not stop the schema from being printed.
    expect(json.properties.LIST?.default).toBe("");
    expect(Object.keys(json.properties)).toContain("OPTIONAL_TOKEN");
  });
});
