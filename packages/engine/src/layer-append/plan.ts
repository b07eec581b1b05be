import {
  DockerfileParser,
  type Copy,
  type Instruction,
  type PropertyInstruction,
} from "dockerfile-ast";

/** How a build makes its image. */
export const BuildPath = {
  /** Kiln writes one layer of the context's files onto the base and pushes it: no container. */
  LayerAppend: "layer-append",
  /** `buildah bud`, for everything a layer of files cannot express. */
  Buildah: "buildah",
} as const;
export type BuildPath = (typeof BuildPath)[keyof typeof BuildPath];

/** What the planner knows of a build: only its inputs, never the base image (see `resolve.ts`). */
export interface PlanInput {
  /** The Dockerfile as it will be built (the strategy's `from` override applied). */
  dockerfile: string;
  /** dockerStrategy.target: picks a stage, which only a multi-stage Dockerfile has. */
  target?: string | undefined;
  /** The BuildConfig has a post-commit hook: it runs in a container of the image, so buildah makes it. */
  postCommit: boolean;
  /** The context has a `.dockerignore`/`.containerignore`, whose patterns buildah applies. */
  ignoreFile: boolean;
}

/** A numeric `--chown`; a user or group name would need the base's /etc/passwd. */
export interface Owner {
  uid: number;
  gid: number;
}

/** One instruction after FROM, its words not yet expanded (that needs the base's ENV). */
export type PlannedInstruction =
  | {
      kind: "copy";
      keyword: "COPY" | "ADD";
      sources: string[];
      destination: string;
      owner: Owner | null;
      mode: number | null;
    }
  | { kind: "env" | "label" | "arg"; pairs: [string, string | null][]; text: string }
  | { kind: "cmd" | "entrypoint"; exec: string[] | null; shell: string; text: string }
  | { kind: "user" | "workdir" | "stopsignal"; value: string; text: string }
  | { kind: "expose"; ports: string[]; text: string }
  | { kind: "shell"; exec: string[]; text: string };

export type PathChoice =
  | { path: typeof BuildPath.LayerAppend; base: string; instructions: PlannedInstruction[] }
  | { path: typeof BuildPath.Buildah; reason: string };

const buildah = (reason: string): PathChoice => ({ path: BuildPath.Buildah, reason });

/**
 * Whether a Docker build can be a layer of files on its base (layer-append) and what it does,
 * or why buildah must run it: a Dockerfile of one `FROM`, `COPY`/`ADD` of context files and
 * metadata instructions only. Pure: the same input always gets the same answer.
 */
export function planDockerBuild(input: PlanInput): PathChoice {
  if (input.postCommit) return buildah("the BuildConfig has a post-commit hook");
  if (input.target) return buildah("dockerStrategy.target picks a stage");
  if (input.ignoreFile) return buildah("the context has a .dockerignore");
  const dockerfile = DockerfileParser.parse(input.dockerfile);
  if (dockerfile.getDirectives().some((d) => d.getName().toLowerCase() === "syntax"))
    return buildah("the Dockerfile names a syntax frontend");
  const froms = dockerfile.getFROMs();
  if (froms.length !== 1) return buildah(`the Dockerfile has ${froms.length} FROMs (multi-stage)`);
  const from = froms[0]!;
  const base = from.getImage();
  if (from.getFlags().length > 0) return buildah("FROM has flags");
  if (!base || base.includes("$")) return buildah("the FROM image uses a build arg");
  if (base === "scratch") return buildah("FROM scratch");
  const instructions: PlannedInstruction[] = [];
  let afterFrom = false;
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    if (keyword === "FROM") {
      afterFrom = true;
      continue;
    }
    // An ARG before FROM only feeds FROM lines, and ours takes none.
    if (!afterFrom) continue;
    const planned = planInstruction(instruction, keyword);
    if (typeof planned === "string") return buildah(planned);
    instructions.push(planned);
  }
  return { path: BuildPath.LayerAppend, base, instructions };
}

/** One instruction's plan, or why it needs buildah. */
function planInstruction(instruction: Instruction, keyword: string): PlannedInstruction | string {
  const text = `${keyword} ${instruction.getArgumentsContent() ?? ""}`.trimEnd();
  switch (keyword) {
    case "COPY":
    case "ADD":
      return planCopy(instruction as Copy, keyword);
    case "ENV":
    case "LABEL":
    case "ARG": {
      const properties = (instruction as PropertyInstruction).getProperties();
      if (properties.length === 0) return `${keyword} without a name`;
      const pairs = properties.map((p): [string, string | null] => [p.getName(), p.getValue()]);
      if (keyword !== "ARG" && pairs.some(([, v]) => v === null))
        return `${keyword} without a value`;
      return {
        kind: keyword === "ENV" ? "env" : keyword === "LABEL" ? "label" : "arg",
        pairs,
        text,
      };
    }
    case "CMD":
    case "ENTRYPOINT": {
      const content = instruction.getArgumentsContent() ?? "";
      const exec = jsonForm(content);
      return { kind: keyword === "CMD" ? "cmd" : "entrypoint", exec, shell: content, text };
    }
    case "SHELL": {
      const exec = jsonForm(instruction.getArgumentsContent() ?? "");
      if (!exec?.length) return "SHELL without a JSON array";
      return { kind: "shell", exec, text };
    }
    case "USER":
    case "WORKDIR":
    case "STOPSIGNAL": {
      const value = instruction.getArgumentsContent()?.trim();
      if (!value) return `${keyword} without a value`;
      return {
        kind: keyword === "USER" ? "user" : keyword === "WORKDIR" ? "workdir" : "stopsignal",
        value,
        text,
      };
    }
    case "EXPOSE":
      return { kind: "expose", ports: instruction.getArguments().map((a) => a.getValue()), text };
    case "RUN":
      return "RUN needs a container";
    default:
      // VOLUME, HEALTHCHECK, ONBUILD, MAINTAINER and anything newer: rare enough to leave to buildah.
      return `${keyword} is not one the fast path writes`;
  }
}

/**
 * The exec (JSON array) form of an instruction's arguments; null for the shell form, as Docker
 * takes anything that does not parse as an array of strings. (dockerfile-ast's JSON strings
 * drop the spaces inside them.)
 */
function jsonForm(content: string): string[] | null {
  if (!content.trimStart().startsWith("[")) return null;
  try {
    const parsed: unknown = JSON.parse(content);
    return Array.isArray(parsed) && parsed.every((w) => typeof w === "string") ? parsed : null;
  } catch {
    return null;
  }
}

function planCopy(copy: Copy, keyword: "COPY" | "ADD"): PlannedInstruction | string {
  if (copy.getHeredocs().length > 0) return `${keyword} of a heredoc`;
  let owner: Owner | null = null;
  let mode: number | null = null;
  for (const flag of copy.getFlags()) {
    const value = flag.getValue() ?? "";
    switch (flag.getName()) {
      case "chown": {
        const match = /^(\d+)(?::(\d+))?$/.exec(value);
        if (!match)
          return `${keyword} --chown=${value} names a user (only numeric ids are read without the base's /etc/passwd)`;
        // Docker: a uid without a gid uses the uid as the gid.
        owner = { uid: Number(match[1]), gid: Number(match[2] ?? match[1]) };
        break;
      }
      case "chmod":
        if (!/^[0-7]{3,4}$/.test(value)) return `${keyword} --chmod=${value} is not octal`;
        mode = parseInt(value, 8);
        break;
      default:
        return `${keyword} --${flag.getName()}`;
    }
  }
  const content = copy.getArgumentsContent() ?? "";
  const words =
    jsonForm(content) ??
    copy
      .getArguments()
      .map((a) => a.getValue())
      .filter((w) => !w.startsWith("--"));
  if (words.length < 2) return `${keyword} needs a source and a destination`;
  const sources = words.slice(0, -1);
  for (const source of sources) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) || source.startsWith("git@"))
      return `${keyword} of a URL`;
    if (/[*?[\]]/.test(source)) return `${keyword} of a wildcard`;
  }
  return { kind: "copy", keyword, sources, destination: words.at(-1)!, owner, mode };
}
