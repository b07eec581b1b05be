/** Providers Kiln parses; the value is the provider token of request ids (`git-<provider>-<id>`). */
export const GitProvider = {
  GitHub: "github",
  GitLab: "gitlab",
  Gitea: "gitea",
  Gogs: "gogs",
  BitbucketCloud: "bitbucket",
  BitbucketServer: "bitbucket-server",
  Generic: "generic",
} as const;
export type GitProvider = (typeof GitProvider)[keyof typeof GitProvider];

/** One ref a push moved. */
export interface RefChange {
  /** Full ref: `refs/heads/main`, `refs/tags/v1`; empty from a generic hook that named none (the BuildConfig's own). */
  ref: string;
  /** The pushed commit; absent when the ref was deleted, or a generic hook named none (the ref's tip). */
  commit?: string | undefined;
  /** The push deleted the ref (new commit all zeros). */
  deleted: boolean;
  message?: string | undefined;
  author?: string | undefined;
}

/** What a provider's payload says, normalised. */
export type GitHookEvent =
  | { kind: "ping" }
  /** An event Kiln does not build on (`pull_request`, `issues`, …), named as the provider names it. */
  | { kind: "ignored"; event: string }
  | {
      kind: "push";
      changes: RefChange[];
      /** The repository's default branch (`main`) when the payload says it. */
      defaultBranch?: string | undefined;
      /** Generic webhook only: environment for the build (used only with the trigger's `allowEnv`). */
      env?: { name: string; value: string }[] | undefined;
    };

/** A parsed, not yet verified delivery. */
export interface ParsedHook {
  provider: GitProvider;
  /** The sender's delivery id; null only for a generic hook sent without one. */
  deliveryId: string | null;
  event: GitHookEvent;
}

/** Request headers as node gives them (lower-case names). */
export type HookHeaders = Record<string, string | string[] | undefined>;

/** A provider parser: pure, throws only `WebhookParseError`. */
export type HookParser = (headers: HookHeaders, body: Uint8Array) => ParsedHook;
