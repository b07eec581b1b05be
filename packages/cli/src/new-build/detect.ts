import { UsageError } from "../errors.js";
import type { BuilderTemplate } from "../resources.js";
import { DetectionError } from "./errors.js";

/** The strategies `kiln new-build --strategy` picks between. */
export const NewBuildStrategy = { Docker: "docker", Source: "source" } as const;
export type NewBuildStrategy = (typeof NewBuildStrategy)[keyof typeof NewBuildStrategy];

/** What the repository is built with: its own Dockerfile, or a template's builder (S2I). */
export type Detected =
  | { strategy: typeof NewBuildStrategy.Docker }
  | { strategy: typeof NewBuildStrategy.Source; template: BuilderTemplate; matched: string[] };

export interface DetectOptions {
  /** `--template`: this one, whatever the files say. */
  template?: string | undefined;
  strategy?: NewBuildStrategy | undefined;
}

/**
 * Picks how to build a repository from the names at its top, as `oc new-build` does: a
 * `Dockerfile` means the Docker strategy (unless `--strategy source`), else the one template
 * whose `detect.files` are there. No guessing: none or several is an error naming them.
 */
export function detectBuild(
  files: readonly string[],
  templates: readonly BuilderTemplate[],
  options: DetectOptions = {},
): Detected {
  const present = new Set(files);
  if (options.template !== undefined) {
    if (options.strategy === NewBuildStrategy.Docker)
      throw new UsageError("--template builds with the Source strategy: drop --strategy docker");
    const template = templates.find((t) => t.metadata.name === options.template);
    if (!template)
      throw new DetectionError(
        `no BuilderTemplate ${options.template} (templates: ${names(templates) || "none"})`,
      );
    return {
      strategy: NewBuildStrategy.Source,
      template,
      matched: matchedFiles(template, present),
    };
  }
  const hasDockerfile = present.has("Dockerfile");
  if (options.strategy === NewBuildStrategy.Docker) {
    if (!hasDockerfile)
      throw new DetectionError(
        "--strategy docker needs a Dockerfile at the top of the repository, and it has none",
      );
    return { strategy: NewBuildStrategy.Docker };
  }
  if (hasDockerfile && options.strategy !== NewBuildStrategy.Source)
    return { strategy: NewBuildStrategy.Docker };
  const matches = templates
    .map((template) => ({ template, matched: matchedFiles(template, present) }))
    .filter((m) => m.matched.length > 0);
  if (matches.length === 1) return { strategy: NewBuildStrategy.Source, ...matches[0]! };
  if (matches.length === 0)
    throw new DetectionError(
      `no BuilderTemplate matches the repository (${describeFiles(files)}); candidates: ${
        templates
          .map((t) => `${t.metadata.name} (${(t.spec?.detect?.files ?? []).join(", ")})`)
          .join("; ") || "none (kiln get templates)"
      }; name one with --template${hasDockerfile ? "" : ", or add a Dockerfile"}`,
    );
  throw new DetectionError(
    `several BuilderTemplates match the repository: ${matches
      .map((m) => `${m.template.metadata.name} (${m.matched.join(", ")})`)
      .join("; ")}; pick one with --template`,
  );
}

function matchedFiles(template: BuilderTemplate, present: ReadonlySet<string>): string[] {
  return (template.spec?.detect?.files ?? []).filter((f) => present.has(f));
}

function names(templates: readonly BuilderTemplate[]): string {
  return templates.map((t) => t.metadata.name).join(", ");
}

/** A few of the repository's top-level names, so the user sees what was looked at. */
function describeFiles(files: readonly string[]): string {
  if (files.length === 0) return "it is empty";
  const shown = [...files].sort().slice(0, 8);
  return `it has ${shown.join(", ")}${files.length > shown.length ? ", …" : ""}`;
}
