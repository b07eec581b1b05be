import { posix } from "node:path";
import type { Owner, PlannedInstruction } from "./plan.js";

/** The part of an image config (OCI or Docker) the Dockerfile's metadata instructions change. */
export interface ContainerConfig {
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  User?: string;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object> | null;
  StopSignal?: string;
  Shell?: string[] | null;
  OnBuild?: string[] | null;
  [other: string]: unknown;
}

/** A COPY/ADD with its words expanded and its destination absolute. */
export interface ResolvedCopy {
  keyword: "COPY" | "ADD";
  sources: string[];
  destination: string;
  /** The destination as written (variables expanded), as buildah's history names it. */
  writtenDestination: string;
  /** The destination names a directory (ends in `/`, or several sources). */
  intoDirectory: boolean;
  owner: Owner | null;
  mode: number | null;
}

/** One history entry per instruction: its `created_by` text, or the copy it stands for (whose text needs the content's digest). */
type HistoryLine = { createdBy: string } | { copy: number };

export interface Resolved {
  config: ContainerConfig;
  copies: ResolvedCopy[];
  /** WORKDIRs, which buildah creates when the base lacks them. */
  workdirs: string[];
  history: HistoryLine[];
}

export interface ResolveInput {
  instructions: readonly PlannedInstruction[];
  /** The base image's `config` (not changed). */
  baseConfig: ContainerConfig;
  buildArgs: readonly { name: string; value: string }[];
  /** `--env`s (dockerStrategy.env, the build's env): set after the Dockerfile, as buildah does. */
  env: readonly { name: string; value: string }[];
  /** `--label`s (Kiln's and the BuildConfig's): one LABEL each after the Dockerfile, as buildah does. */
  labels: readonly [string, string][];
}

const nop = "/bin/sh -c #(nop) ";

/**
 * Applies the instructions to the base's config as buildah would: variables expanded with the
 * ARGs and ENV in force (ENV wins), ENTRYPOINT dropping an inherited CMD, relative WORKDIRs and
 * COPY destinations taken from the WORKDIR. Pure.
 */
export function resolveInstructions(input: ResolveInput): Resolved {
  const config: ContainerConfig = structuredClone(input.baseConfig);
  const env = new Map<string, string>();
  for (const entry of config.Env ?? []) {
    const at = entry.indexOf("=");
    env.set(at < 0 ? entry : entry.slice(0, at), at < 0 ? "" : entry.slice(at + 1));
  }
  const args = new Map<string, string>();
  const given = new Map(input.buildArgs.map((a) => [a.name, a.value]));
  const lookup = (name: string) => env.get(name) ?? args.get(name);
  const expand = (word: string) => expandWord(word, lookup);
  const copies: ResolvedCopy[] = [];
  const workdirs: string[] = [];
  const history: HistoryLine[] = [];
  let cmdSet = false;
  let shell = config.Shell?.length ? config.Shell : ["/bin/sh", "-c"];
  // buildah moves a variable set again to the end, as a new one.
  const setEnv = (name: string, value: string) => {
    env.delete(name);
    env.set(name, value);
    config.Env = [...env].map(([k, v]) => `${k}=${v}`);
  };
  const workingDir = () => config.WorkingDir || "/";

  for (const step of input.instructions) {
    switch (step.kind) {
      case "copy": {
        const words = [...step.sources, step.destination].map(expand);
        const destination = words.at(-1)!;
        copies.push({
          keyword: step.keyword,
          sources: words.slice(0, -1),
          destination: posix.resolve(workingDir(), destination),
          writtenDestination: destination,
          intoDirectory: destination.endsWith("/") || words.length > 2,
          owner: step.owner,
          mode: step.mode,
        });
        history.push({ copy: copies.length - 1 });
        continue;
      }
      case "env":
        for (const [name, value] of step.pairs) setEnv(name, expand(value ?? ""));
        break;
      case "label":
        config.Labels = { ...config.Labels };
        for (const [name, value] of step.pairs) config.Labels[expand(name)] = expand(value ?? "");
        break;
      case "arg":
        for (const [name, value] of step.pairs) {
          const chosen = given.get(name) ?? (value === null ? undefined : expand(value));
          if (chosen !== undefined) args.set(name, chosen);
        }
        // buildah's history names the ARGs, never their values.
        history.push({ createdBy: `${nop}ARG ${step.pairs.map(([n]) => n).join(" ")}` });
        continue;
      case "cmd":
        config.Cmd = step.exec ?? [...shell, step.shell];
        cmdSet = true;
        break;
      case "entrypoint":
        config.Entrypoint = step.exec ?? [...shell, step.shell];
        // Docker and buildah: an ENTRYPOINT drops a CMD the base set, not one this Dockerfile set.
        if (!cmdSet) config.Cmd = null;
        break;
      case "shell":
        shell = step.exec;
        config.Shell = step.exec;
        break;
      case "user":
        config.User = expand(step.value);
        break;
      case "workdir":
        config.WorkingDir = posix.resolve(workingDir(), expand(step.value));
        workdirs.push(config.WorkingDir);
        break;
      case "stopsignal":
        config.StopSignal = expand(step.value);
        break;
      case "expose":
        config.ExposedPorts = { ...config.ExposedPorts };
        for (const port of step.ports.map(expand))
          config.ExposedPorts[port.includes("/") ? port : `${port}/tcp`] = {};
        break;
      default:
        step satisfies never;
    }
    history.push({ createdBy: `${nop}${step.text}` });
  }
  for (const e of input.env) setEnv(e.name, e.value);
  for (const [name, value] of input.labels) {
    config.Labels = { ...config.Labels, [name]: value };
    history.push({ createdBy: `${nop}LABEL ${JSON.stringify(name)}=${JSON.stringify(value)}` });
  }
  return { config, copies, workdirs, history };
}

/**
 * Docker's variable substitution in one word: `$NAME`, `${NAME}`, `${NAME:-word}`,
 * `${NAME:+word}`; `\$` stays a `$`; an unknown name is empty.
 */
export function expandWord(word: string, lookup: (name: string) => string | undefined): string {
  return word.replace(
    /\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, op?: string, alt?: string, bare?: string) => {
      if (match === "\\$") return "$";
      const value = lookup((braced ?? bare)!);
      if (op === "-") return value ? value : (alt ?? "");
      if (op === "+") return value ? (alt ?? "") : "";
      return value ?? "";
    },
  );
}
