import { z } from "zod";
import type { BuildPhase } from "../build-phase.js";
import type { FieldIssue } from "../errors.js";
import { objectFor, type Strictness } from "./common.js";

/**
 * Kiln extension `spec.source.git.statusReporting` (OpenShift's BuildConfig has no such field):
 * a build of the repository reports pending / success / failure on its commit to the git host's
 * commit status API, with a link to the build's page. It sits on the git source, not on a
 * webhook trigger, because every build of the repository (a push, `kiln start-build --commit`,
 * an image change) has a commit the developer looks at; and it is a typed field rather than an
 * annotation so that a misspelt provider or URL is refused at apply, naming the field.
 */

/** The git hosts whose commit status API Kiln speaks. Values are the field's words. */
export const GitHostProvider = {
  GitHub: "github",
  GitLab: "gitlab",
  Gitea: "gitea",
  Bitbucket: "bitbucket",
} as const;
export type GitHostProvider = (typeof GitHostProvider)[keyof typeof GitHostProvider];
const providers = Object.values(GitHostProvider) as [GitHostProvider, ...GitHostProvider[]];

/** The Opaque Secret key that holds the token when `secretRef.key` is not given. */
export const defaultStatusTokenKey = "token";

const httpUrl = z
  .string()
  .min(1)
  .refine((u) => /^https?:\/\/[^/\s]+/.test(u) && URL.canParse(u), "must be an http(s) URL");

export function statusReportingSchema(strictness: Strictness) {
  const object = objectFor(strictness);
  return object({
    /**
     * An Opaque Secret of the BuildConfig's namespace with the host's token under `key`
     * (@default "token"); a `username` key beside it makes Bitbucket use Basic auth (an app
     * password or API token) instead of a Bearer access token.
     */
    secretRef: object({ name: z.string().min(1), key: z.string().min(1).optional() }),
    /** Needed when the repository URL's host is not github.com, gitlab.com or bitbucket.org. */
    provider: z.enum(providers).optional(),
    /** The host's API base URL (`https://ghe.example.com/api/v3`); @default derived from the repository URL. */
    url: httpUrl.optional(),
    /**
     * `owner/name` on the host (GitLab: the project's full path); @default the repository URL's
     * path. Set it when Kiln clones a mirror of the repository the commits are reported on.
     */
    repository: z
      .string()
      .regex(/^[^/\s]+(\/[^/\s]+)+$/, "must be owner/name (GitLab: group/…/project)")
      .optional(),
  });
}

export type StatusReporting = z.output<ReturnType<typeof statusReportingSchema>>;

/** Where a BuildConfig's statuses go: which API, which repository on it. */
export interface StatusTarget {
  provider: GitHostProvider;
  /** The API base URL, without a trailing slash. */
  apiUrl: string;
  /** `owner/name` (GitLab: the project's full path). */
  repository: string;
}

/** The hosts whose provider and API are known from the name alone. */
const knownHosts: Record<string, { provider: GitHostProvider; apiUrl: string }> = {
  "github.com": { provider: GitHostProvider.GitHub, apiUrl: "https://api.github.com" },
  "gitlab.com": { provider: GitHostProvider.GitLab, apiUrl: "https://gitlab.com/api/v4" },
  "bitbucket.org": { provider: GitHostProvider.Bitbucket, apiUrl: "https://api.bitbucket.org/2.0" },
};

/** A self-hosted server's API, below its web address (GitHub Enterprise Server, GitLab, Gitea). */
function selfHostedApi(provider: GitHostProvider, web: string): string | null {
  switch (provider) {
    case GitHostProvider.GitHub:
      return `${web}/api/v3`;
    case GitHostProvider.GitLab:
      return `${web}/api/v4`;
    case GitHostProvider.Gitea:
      return `${web}/api/v1`;
    case GitHostProvider.Bitbucket:
      // Bitbucket Data Center has another API altogether; only Cloud's is spoken.
      return null;
  }
}

/** Host, web address and repository path of a git URL (https, ssh, git, scp-like); null for a local path. */
function parseGitUri(uri: string): { host: string; web: string; path: string } | null {
  const scpLike = /^(?:[^@/:]+@)?([^/:]+):(?!\/\/)(.+)$/.exec(uri);
  if (scpLike && !uri.includes("://"))
    return { host: scpLike[1]!.toLowerCase(), web: `https://${scpLike[1]!}`, path: scpLike[2]! };
  if (!URL.canParse(uri)) return null;
  const url = new URL(uri);
  if (!url.hostname || url.protocol === "file:") return null;
  // A web address only for http(s): an ssh or git port is not the host's web port.
  const web = /^https?:$/.test(url.protocol) ? url.origin : `https://${url.hostname}`;
  return { host: url.hostname.toLowerCase(), web, path: decodeURIComponent(url.pathname) };
}

function repositoryPath(path: string): string {
  return path
    .replace(/^\/+/, "")
    .replace(/\/+$/, "")
    .replace(/\.git$/, "");
}

/**
 * Where the statuses of a build of `gitUri` go, or the field that must say it. The provider
 * comes from a known host or the field; the API from the field, a known host or the
 * repository's web address; the repository from the field or the URL's path.
 */
export function resolveStatusTarget(
  gitUri: string,
  reporting: Pick<StatusReporting, "provider" | "url" | "repository">,
): { target: StatusTarget; issue?: undefined } | { issue: FieldIssue; target?: undefined } {
  const parsed = parseGitUri(gitUri);
  const known = parsed ? knownHosts[parsed.host] : undefined;
  if (known && reporting.provider && reporting.provider !== known.provider)
    return {
      issue: {
        path: "provider",
        message: `${parsed!.host} is ${known.provider}, not ${reporting.provider}`,
      },
    };
  const provider = reporting.provider ?? known?.provider;
  if (!provider)
    return {
      issue: {
        path: "provider",
        message: `required: ${providers.join(", ")} cannot be told from ${parsed ? parsed.host : "a local repository path"}`,
      },
    };
  const apiUrl =
    reporting.url ??
    known?.apiUrl ??
    (parsed ? selfHostedApi(provider, parsed.web) : null) ??
    undefined;
  if (!apiUrl)
    return {
      issue: {
        path: "url",
        message: parsed
          ? `required: ${parsed.host} is not bitbucket.org (Kiln reports to Bitbucket Cloud's API)`
          : "required: a local repository path names no git host",
      },
    };
  const repository = reporting.repository ?? (parsed ? repositoryPath(parsed.path) : "");
  const segments = repository.split("/").filter((s) => s !== "");
  const nested = provider === GitHostProvider.GitLab;
  if (reporting.repository === undefined && (nested ? segments.length < 2 : segments.length !== 2))
    return {
      issue: {
        path: "repository",
        message: `required: ${parsed ? `the path of ${gitUri}` : "a local repository path"} is not ${nested ? "group/…/project" : "owner/name"}`,
      },
    };
  return { target: { provider, apiUrl: apiUrl.replace(/\/+$/, ""), repository } };
}

/**
 * What Kiln last reported on a build's commit, or why it could not: `status.commitStatus` of a
 * Build. Stored in `builds.commit_status`. Never holds the token.
 */
export interface CommitStatusReport {
  provider: GitHostProvider;
  /** The status's name on the host: `kiln/<namespace>/<buildconfig>`. */
  context: string;
  /** The commit the status is on; absent when the build's commit was not known. */
  commit?: string;
  /** The build phase this report is for, and the dispatch attempt it came from. */
  phase: BuildPhase;
  attempt: number;
  /** What the host was sent, in its own words (`pending`, `SUCCESSFUL`, …), once it took it. */
  state?: string;
  /** The link on the status: the build's page. */
  targetUrl?: string;
  /** When the host took it (ISO 8601). */
  reportedAt?: string;
  /** Why nothing was sent: a missing Secret or key, a host that refused it for good. */
  problem?: { reason: string; message: string };
}

/** The context (GitHub, Gitea), name (GitLab) or key (Bitbucket) of a BuildConfig's statuses. */
export function statusContext(namespace: string, buildConfig: string): string {
  return `kiln/${namespace}/${buildConfig}`;
}
