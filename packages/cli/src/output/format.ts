import { stringify } from "yaml";
import { qualifiedName } from "../resources.js";

/** Machine formats accepted by `-o`; the absence of `-o` means a table or a sentence. */
export const OutputFormat = { Json: "json", Yaml: "yaml", Name: "name" } as const;
export type OutputFormat = (typeof OutputFormat)[keyof typeof OutputFormat];

interface Named {
  kind?: string;
  metadata: { name: string };
}

/**
 * One object prints as itself; several as a `List`, like `kubectl get -o yaml`, so the output of
 * `kiln get bc -o yaml` can be fed back to `kiln apply -f -` (apply flattens Lists).
 */
export function formatResources(
  items: readonly Named[],
  format: OutputFormat,
  options: { single: boolean; kind: string },
): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(options.single ? items[0] : asList(items), null, 2)}\n`;
    case "yaml":
      return stringify(options.single ? items[0] : asList(items), { lineWidth: 0 });
    case "name":
      return items
        .map((item) => `${qualifiedName(item.kind ?? options.kind, item.metadata.name)}\n`)
        .join("");
  }
}

function asList(items: readonly unknown[]): {
  apiVersion: string;
  kind: string;
  items: readonly unknown[];
} {
  return { apiVersion: "v1", kind: "List", items };
}
