import { assertNever, GitHostProvider, type BuildPhase, type StatusTarget } from "@kiln/domain";

/**
 * Each git host's commit status API as its documentation describes it: the endpoint, the auth
 * header, the body and its state words. Pure, so the requests are unit-tested as data.
 * - GitHub: POST {api}/repos/{owner}/{repo}/statuses/{sha}, `Authorization: Bearer`,
 *   `{state: pending|success|failure|error, target_url, description, context}`, 201.
 * - GitLab: POST {api}/projects/{url-encoded path}/statuses/{sha}, `PRIVATE-TOKEN`,
 *   `{state: pending|running|success|failed|canceled, name, target_url, description}`, 201.
 * - Gitea: POST {api}/repos/{owner}/{repo}/statuses/{sha}, `Authorization: token`,
 *   `{state: pending|success|error|failure|warning, target_url, description, context}`, 201.
 * - Bitbucket Cloud: POST {api}/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build,
 *   `Authorization: Bearer` (an access token) or Basic (username + app password or API token),
 *   `{key, state: INPROGRESS|SUCCESSFUL|FAILED|STOPPED, name, url, description}`, 201 (200 when
 *   the key's status is overwritten).
 */

/** What goes on the commit: which build, in which phase, linking where. */
export interface CommitStatus {
  target: StatusTarget;
  commit: string;
  phase: BuildPhase;
  /** `kiln/<namespace>/<buildconfig>`: the status is replaced by the next build's of the same name. */
  context: string;
  /** The build's page; absent when no public URL is configured (Bitbucket requires one). */
  targetUrl?: string | undefined;
  description: string;
}

/** A token from the BuildConfig's Secret; `username` makes Bitbucket use Basic auth. */
export interface HostCredentials {
  token: string;
  username?: string | undefined;
}

export interface StatusRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The state sent, in the host's words: what `status.commitStatus.state` shows. */
  state: string;
}

/** GitHub caps a status's description at 140 characters; the others take it too. */
const maxDescription = 140;

/** The host's state word for a build phase. */
export function hostState(provider: GitHostProvider, phase: BuildPhase): string {
  const words = states[provider];
  switch (phase) {
    case "New":
    case "Pending":
      return words.pending;
    case "Running":
      return words.running;
    case "Complete":
      return words.success;
    case "Failed":
      return words.failure;
    case "Error":
      return words.error;
    case "Cancelled":
      return words.cancelled;
    default:
      return assertNever(phase, "build phase");
  }
}

type StateWords = Record<
  "pending" | "running" | "success" | "failure" | "error" | "cancelled",
  string
>;

/**
 * GitHub and Gitea have no running or cancelled state: a running build is `pending`, a cancelled
 * one `failure` (the commit did not pass). `error` is theirs for a build Kiln itself could not
 * run (phase Error), which they show as failed too.
 */
const states: Record<GitHostProvider, StateWords> = {
  github: {
    pending: "pending",
    running: "pending",
    success: "success",
    failure: "failure",
    error: "error",
    cancelled: "failure",
  },
  gitea: {
    pending: "pending",
    running: "pending",
    success: "success",
    failure: "failure",
    error: "error",
    cancelled: "failure",
  },
  gitlab: {
    pending: "pending",
    running: "running",
    success: "success",
    failure: "failed",
    error: "failed",
    cancelled: "canceled",
  },
  bitbucket: {
    pending: "INPROGRESS",
    running: "INPROGRESS",
    success: "SUCCESSFUL",
    failure: "FAILED",
    error: "FAILED",
    cancelled: "STOPPED",
  },
};

const json = { "Content-Type": "application/json", Accept: "application/json" };

function ownerAndName(repository: string): string {
  return repository.split("/").map(encodeURIComponent).join("/");
}

/** The one request that puts `status` on its commit. */
export function statusRequest(status: CommitStatus, credentials: HostCredentials): StatusRequest {
  const { target, commit, context } = status;
  const state = hostState(target.provider, status.phase);
  const description = status.description.slice(0, maxDescription);
  const link = status.targetUrl === undefined ? {} : { target_url: status.targetUrl };
  const sha = encodeURIComponent(commit);
  switch (target.provider) {
    case GitHostProvider.GitHub:
      return {
        url: `${target.apiUrl}/repos/${ownerAndName(target.repository)}/statuses/${sha}`,
        headers: {
          ...json,
          Accept: "application/vnd.github+json",
          Authorization: `Bearer ${credentials.token}`,
          "X-GitHub-Api-Version": "2022-11-28",
          // GitHub refuses requests without one.
          "User-Agent": "kiln",
        },
        body: JSON.stringify({ state, ...link, description, context }),
        state,
      };
    case GitHostProvider.GitLab:
      return {
        url: `${target.apiUrl}/projects/${encodeURIComponent(target.repository)}/statuses/${sha}`,
        headers: { ...json, "PRIVATE-TOKEN": credentials.token },
        body: JSON.stringify({ state, name: context, ...link, description }),
        state,
      };
    case GitHostProvider.Gitea:
      return {
        url: `${target.apiUrl}/repos/${ownerAndName(target.repository)}/statuses/${sha}`,
        headers: { ...json, Authorization: `token ${credentials.token}` },
        body: JSON.stringify({ state, ...link, description, context }),
        state,
      };
    case GitHostProvider.Bitbucket: {
      const auth =
        credentials.username === undefined
          ? `Bearer ${credentials.token}`
          : `Basic ${btoa(`${credentials.username}:${credentials.token}`)}`;
      return {
        url: `${target.apiUrl}/repositories/${ownerAndName(target.repository)}/commit/${sha}/statuses/build`,
        headers: { ...json, Authorization: auth },
        body: JSON.stringify({
          key: context,
          state,
          name: context,
          ...(status.targetUrl === undefined ? {} : { url: status.targetUrl }),
          description,
        }),
        state,
      };
    }
    default:
      return assertNever(target.provider, "git host provider");
  }
}

/** What the host's answer means for the report. */
export const HostAnswer = {
  /** Taken: the commit shows the state. */
  Taken: "taken",
  /** GitLab's 400 for a move its state machine does not make (pending twice, running → pending): nothing to change. */
  AlreadyThere: "already-there",
  /** The host is down or busy (5xx, 429, no answer): try again later. */
  Retry: "retry",
  /** Refused for good (a bad token, no access, no such repository or commit): retrying cannot help. */
  Refused: "refused",
} as const;
export type HostAnswer = (typeof HostAnswer)[keyof typeof HostAnswer];

export function classifyAnswer(
  provider: GitHostProvider,
  status: number,
  body: string,
): HostAnswer {
  if (status >= 200 && status < 300) return HostAnswer.Taken;
  if (
    provider === GitHostProvider.GitLab &&
    status === 400 &&
    body.includes("Cannot transition status")
  )
    return HostAnswer.AlreadyThere;
  if (status >= 500 || status === 429 || status === 408) return HostAnswer.Retry;
  return HostAnswer.Refused;
}
