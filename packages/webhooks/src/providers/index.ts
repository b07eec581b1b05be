import { TriggerType } from "@kiln/domain";
import type { HookParser } from "../push-event.js";
import { parseBitbucket } from "./bitbucket.js";
import { parseGeneric } from "./generic.js";
import { parseGitea } from "./gitea.js";
import { parseGitHub } from "./github.js";
import { parseGitLab } from "./gitlab.js";

/** The `<type>` segment of a webhook URL (OpenShift's words, plus Kiln's `gitea`). */
export const HookType = {
  GitHub: "github",
  GitLab: "gitlab",
  Bitbucket: "bitbucket",
  Gitea: "gitea",
  Generic: "generic",
} as const;
export type HookType = (typeof HookType)[keyof typeof HookType];

export interface HookTypeDef {
  parse: HookParser;
  /** The BuildConfig trigger type whose secret the hook is checked against. */
  trigger: TriggerType;
  /** Field of the trigger holding `{secret, allowEnv, includeTags}`. */
  field: "github" | "gitlab" | "bitbucket" | "gitea" | "generic";
}

export const hookTypes: Record<HookType, HookTypeDef> = {
  github: { parse: parseGitHub, trigger: TriggerType.GitHub, field: "github" },
  gitlab: { parse: parseGitLab, trigger: TriggerType.GitLab, field: "gitlab" },
  bitbucket: { parse: parseBitbucket, trigger: TriggerType.Bitbucket, field: "bitbucket" },
  gitea: { parse: parseGitea, trigger: TriggerType.Gitea, field: "gitea" },
  generic: { parse: parseGeneric, trigger: TriggerType.Generic, field: "generic" },
};

export function isHookType(value: string): value is HookType {
  return Object.hasOwn(hookTypes, value);
}

export { parseBitbucket, parseGeneric, parseGitea, parseGitHub, parseGitLab };
