import type { Build, BuildConfig, ImageStream, WireImageRef } from "../resources.js";
import { buildDurationMs, buildLayout, buildStatus, sourceType, strategyType } from "./columns.js";
import { renderTable } from "./table.js";
import { webhookLines } from "./webhooks.js";
import { formatDuration, relativeTime } from "./time.js";

/**
 * `oc describe`-style text: `Label:` columns aligned within each block, `<none>` for empty values,
 * blank lines between blocks. Meant for people; scripts use `kiln get -o json`.
 */
type Entry = [label: string, value: string | undefined | null];
type Block = Entry[] | { text: string };

const none = "<none>";

function render(blocks: Block[]): string {
  const present = (block: Entry[]) => block.filter(([, v]) => v !== undefined);
  // One label column for the whole description, like oc's tabwriter: values line up across blocks.
  const labels = blocks.flatMap((b) =>
    Array.isArray(b) ? present(b).map(([label]) => label.length) : [],
  );
  const width = Math.max(0, ...labels) + 3; // label, colon, two spaces
  const out: string[] = [];
  for (const block of blocks) {
    if (!Array.isArray(block)) {
      out.push(block.text.replace(/\n+$/, ""));
    } else {
      const entries = present(block);
      if (entries.length === 0) continue;
      for (const [label, value] of entries) {
        const lines = (value === null || value === "" ? none : (value as string)).split("\n");
        out.push(`${`${label}:`.padEnd(width)}${lines[0]}`);
        for (const more of lines.slice(1)) out.push(`${" ".repeat(width)}${more}`);
      }
    }
    out.push("");
  }
  return `${out.join("\n").replace(/\n+$/, "")}\n`;
}

function timestamp(value: string | null | undefined, now: Date): string | null {
  if (!value) return null;
  return `${value} (${relativeTime(value, now)})`;
}

function keyValues(map: Record<string, string> | undefined): string | null {
  const entries = Object.entries(map ?? {});
  return entries.length === 0 ? null : entries.map(([k, v]) => `${k}=${v}`).join("\n");
}

function imageRef(ref: WireImageRef | undefined): string | null {
  if (!ref?.name) return null;
  const ns = ref.namespace ? `${ref.namespace}/` : "";
  return `${ref.kind ?? "DockerImage"} ${ns}${ref.name}`;
}

export function describeBuild(build: Build, now: Date): string {
  const spec = build.spec ?? {};
  const status = build.status ?? {};
  const strategy = spec.strategy;
  const builderFrom = strategy?.sourceStrategy?.from ?? strategy?.dockerStrategy?.from;
  const blocks: Block[] = [
    [
      ["Name", build.metadata.name],
      ["Namespace", build.metadata.namespace ?? null],
      ["Created", timestamp(build.metadata.creationTimestamp, now)],
      ["Labels", keyValues(build.metadata.labels)],
      [
        "Annotations",
        build.metadata.annotations ? keyValues(build.metadata.annotations) : undefined,
      ],
    ],
    [
      ["Status", buildStatus(build) || null],
      ["Message", status.message ?? undefined],
      ["Started", timestamp(status.startTimestamp, now)],
      [
        "Completed",
        status.completionTimestamp ? timestamp(status.completionTimestamp, now) : undefined,
      ],
      [
        "Duration",
        formatDuration(buildDurationMs(build)) || (status.startTimestamp ? "running" : null),
      ],
    ],
    [
      ["Build Config", spec.buildConfig ?? null],
      ["Strategy", strategyType(strategy) || null],
      ["From Image", builderFrom ? imageRef(builderFrom) : undefined],
      ["Source", sourceType(spec.source) || null],
      ["URL", spec.source?.git ? (spec.source.git.uri ?? null) : undefined],
      ["Ref", spec.source?.git ? (spec.source.git.ref ?? null) : undefined],
      ["Context Dir", spec.source?.contextDir ?? undefined],
      ["Commit", spec.revision?.commit ?? null],
      [
        "Env",
        spec.env && spec.env.length > 0
          ? spec.env.map((e) => `${e.name}=${e.value ?? ""}`).join("\n")
          : undefined,
      ],
    ],
    [
      ["Output to", spec.output?.image ?? null],
      ["Image Digest", status.output?.digest ?? undefined],
      ["Image Reference", status.output?.imageReference ?? undefined],
    ],
    [
      [
        "Triggered by",
        (spec.triggeredBy ?? [])
          .map((c) => c.message ?? c.type ?? "")
          .filter(Boolean)
          .join("\n") || null,
      ],
    ],
  ];
  if (status.logSnippet && status.phase !== "Complete") {
    blocks.push({ text: `Log Tail:\n${indent(status.logSnippet)}` });
  }
  return render(blocks);
}

/** `webhookUrl` (KILN_WEBHOOK_URL) adds each webhook trigger's URLs, as `oc describe bc` does. */
export function describeBuildConfig(
  bc: BuildConfig,
  builds: readonly Build[],
  now: Date,
  webhookUrl?: string,
): string {
  const spec = bc.spec ?? {};
  const source = spec.source;
  const strategy = spec.strategy;
  const triggers = (spec.triggers ?? []).map((t) => {
    const from = t.imageChange?.from ? ` (${imageRef(t.imageChange.from)})` : "";
    return `${t.type ?? "?"}${from}${t.imageChange?.paused ? " paused" : ""}`;
  });
  const blocks: Block[] = [
    [
      ["Name", bc.metadata.name],
      ["Namespace", bc.metadata.namespace ?? null],
      ["Created", timestamp(bc.metadata.creationTimestamp, now)],
      ["Labels", keyValues(bc.metadata.labels)],
      ["Latest Version", String(bc.status?.lastVersion ?? 0)],
    ],
    [
      ["Strategy", strategyType(strategy) || null],
      [
        "From Image",
        imageRef(strategy?.sourceStrategy?.from ?? strategy?.dockerStrategy?.from) ?? undefined,
      ],
      ["Dockerfile Path", strategy?.dockerStrategy?.dockerfilePath ?? undefined],
      ["Source", sourceType(source) || null],
      ["URL", source?.git ? (source.git.uri ?? null) : undefined],
      ["Ref", source?.git ? (source.git.ref ?? null) : undefined],
      ["Context Dir", source?.contextDir ?? undefined],
      ["Inline Dockerfile", source?.dockerfile ?? undefined],
      ["Output to", imageRef(spec.output?.to)],
      ["Run Policy", spec.runPolicy ?? undefined],
      ["Triggered by", triggers.length > 0 ? triggers.join("\n") : null],
    ],
  ];
  const webhooks = webhookUrl === undefined ? [] : webhookLines(bc, webhookUrl);
  if (webhooks.length > 0) blocks.push({ text: webhooks.join("\n") });
  if (builds.length > 0) {
    blocks.push({
      text: `Builds:\n${indent(
        renderTable(
          buildLayout.headers,
          builds.map((b) => buildLayout.row(b, now)),
        ),
      )}`,
    });
  }
  return render(blocks);
}

export function describeImageStream(is: ImageStream, now: Date): string {
  const blocks: Block[] = [
    [
      ["Name", is.metadata.name],
      ["Namespace", is.metadata.namespace ?? null],
      ["Created", timestamp(is.metadata.creationTimestamp, now)],
      ["Labels", keyValues(is.metadata.labels)],
      [
        "Image Repository",
        is.status?.publicDockerImageRepository ?? is.status?.dockerImageRepository ?? null,
      ],
    ],
  ];
  const tags = is.status?.tags ?? [];
  const specTags = new Map((is.spec?.tags ?? []).map((t) => [t.name, t]));
  if (tags.length === 0 && specTags.size === 0) blocks.push({ text: "Tags: <none>" });
  const names = [...new Set([...tags.map((t) => t.tag), ...specTags.keys()])];
  for (const name of names) {
    const history = tags.find((t) => t.tag === name)?.items ?? [];
    const from = specTags.get(name)?.from;
    const lines = [name, "-".repeat(Math.max(name.length, 3))];
    if (from?.name) lines.push(`  tagged from ${from.kind ?? "DockerImage"} ${from.name}`);
    if (history.length === 0) lines.push("  no image yet");
    history.forEach((item, i) => {
      const mark = i === 0 ? "* " : "  ";
      lines.push(`  ${mark}${item.dockerImageReference ?? item.image ?? "?"}`);
      const why = [item.cause, item.build ? `build ${item.build}` : undefined]
        .filter(Boolean)
        .join(", ");
      if (item.created || why)
        lines.push(
          `      ${[item.created ? relativeTime(item.created, now) : undefined, why || undefined].filter(Boolean).join("  ")}`,
        );
    });
    blocks.push({ text: lines.join("\n") });
  }
  return render(blocks);
}

function indent(text: string): string {
  return text
    .replace(/\n+$/, "")
    .split("\n")
    .map((l) => (l ? `  ${l}` : l))
    .join("\n");
}
