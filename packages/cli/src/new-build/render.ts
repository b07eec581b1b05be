import { UsageError } from "../errors.js";
import type { WireImageRef } from "../resources.js";
import type { Detected } from "./detect.js";

/** Everything `kiln new-build` creates is decided here, from data: the command only reads and applies. */
export interface NewBuildInput {
  namespace: string;
  name: string;
  git: { uri: string; ref?: string | undefined };
  detected: Detected;
  /** `--to IS:TAG`; default `NAME:latest`. */
  to?: string | undefined;
  /** `--runtime-image`: a DockerImage, in place of the template version's runtime image. */
  runtimeImage?: string | undefined;
  /** One secret for both webhook triggers, shown to the user once. */
  webhookSecret: string;
  /** False when the output ImageStream exists already: it is used as it is, never re-applied. */
  createImageStream: boolean;
}

/** What a template version builds with, its ImageStreamTags made explicit about their namespace. */
export interface ResolvedTemplate {
  template: string;
  version: string;
  builderImage: WireImageRef;
  runtimeImage?: WireImageRef | undefined;
  runtimeArtifacts?: { sourcePath: string; destinationDir?: string }[] | undefined;
  env: { name: string; value: string }[];
}

/**
 * The version `new-build` uses (`defaultVersion`, else the first), with ImageStreamTags of a
 * shared template pinned to the template's namespace, as they are written there.
 */
export function templateVersion(detected: Detected): ResolvedTemplate | null {
  if (detected.strategy !== "source") return null;
  const { template } = detected;
  const spec = template.spec ?? {};
  const versions = spec.versions ?? [];
  const version = versions.find((v) => v.name === spec.defaultVersion) ?? versions[0];
  if (!version?.builderImage?.name)
    throw new UsageError(
      `BuilderTemplate ${template.metadata.name} has no version with a builderImage`,
    );
  const pin = (ref: WireImageRef): WireImageRef =>
    ref.kind === "ImageStreamTag" && !ref.namespace && template.metadata.namespace
      ? { ...ref, namespace: template.metadata.namespace }
      : ref;
  return {
    template: template.metadata.name,
    version: version.name,
    builderImage: pin(version.builderImage),
    runtimeImage: version.runtimeImage ? pin(version.runtimeImage) : undefined,
    runtimeArtifacts: version.runtimeArtifacts,
    env: (spec.env ?? []).map((e) => ({ name: e.name, value: e.value ?? "" })),
  };
}

/** A BuildConfig name from a repository URL or path: its last segment, made a DNS-1123 name. */
export function nameFromRepository(repository: string): string {
  const path = repository.replace(/#.*$/, "").replace(/[/\\]+$/, "");
  const last = path.split(/[/\\:]/).at(-1) ?? "";
  const name = last
    .replace(/\.git$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 58)
    .replace(/-+$/, "");
  if (!name)
    throw new UsageError(`cannot make a BuildConfig name from ${repository}: give one with --name`);
  return name;
}

/** The output `IS:TAG`, checked: `--to` is an ImageStreamTag of the namespace. */
export function outputTag(input: Pick<NewBuildInput, "name" | "to">): {
  imageStream: string;
  tag: string;
} {
  const to = input.to ?? `${input.name}:latest`;
  const match = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?):([\w][\w.-]{0,127})$/.exec(to);
  if (!match)
    throw new UsageError(`--to ${to}: must be IMAGESTREAM:TAG (e.g. ${input.name}:latest)`);
  return { imageStream: match[1]!, tag: match[3]! };
}

/** The documents `new-build` applies (or prints with `--dry-run`): the ImageStream, then the BuildConfig. */
export function renderNewBuild(input: NewBuildInput): Record<string, unknown>[] {
  const { namespace, name, detected } = input;
  const { imageStream, tag } = outputTag(input);
  const resolved = templateVersion(detected);
  if (input.runtimeImage !== undefined && !resolved)
    throw new UsageError("--runtime-image is for the Source strategy (a template's builder)");
  const labels = { app: name };
  const annotations: Record<string, string> = {
    "kiln.dev/generated-by": "kiln new-build",
    ...(resolved
      ? { "kiln.dev/builder-template": `${resolved.template}:${resolved.version}` }
      : {}),
  };
  const runtimeImage =
    input.runtimeImage !== undefined
      ? { kind: "DockerImage", name: input.runtimeImage }
      : resolved?.runtimeImage;
  const strategy = resolved
    ? {
        type: "Source",
        sourceStrategy: {
          from: resolved.builderImage,
          ...(resolved.env.length ? { env: resolved.env } : {}),
          ...(runtimeImage ? { runtimeImage } : {}),
          ...(runtimeImage && resolved.runtimeArtifacts?.length
            ? { runtimeArtifacts: resolved.runtimeArtifacts }
            : {}),
        },
      }
    : { type: "Docker", dockerStrategy: {} };
  const docs: Record<string, unknown>[] = [];
  if (input.createImageStream)
    docs.push({
      apiVersion: "kiln.dev/v1",
      kind: "ImageStream",
      metadata: { name: imageStream, namespace, labels, annotations },
      spec: {},
    });
  docs.push({
    apiVersion: "kiln.dev/v1",
    kind: "BuildConfig",
    metadata: { name, namespace, labels, annotations },
    spec: {
      source: {
        type: "Git",
        git: { uri: input.git.uri, ...(input.git.ref ? { ref: input.git.ref } : {}) },
      },
      strategy,
      output: { to: { kind: "ImageStreamTag", name: `${imageStream}:${tag}` } },
      triggers: [
        { type: "ConfigChange" },
        { type: "GitHub", github: { secret: input.webhookSecret } },
        { type: "Generic", generic: { secret: input.webhookSecret } },
      ],
    },
  });
  return docs;
}
