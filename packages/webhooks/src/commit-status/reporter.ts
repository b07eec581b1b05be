import {
  consumers,
  RetryableError,
  type Bus,
  type BuildStatusChangedV1,
  type Consumption,
  type DeliveryContext,
} from "@kiln/bus";
import {
  getResource,
  openSecretValue,
  recordCommitStatus,
  withCommitStatusLock,
  type Db,
  type SecretBox,
  type StoredBuild,
  type Tx,
} from "@kiln/db";
import {
  assertNever,
  defaultStatusTokenKey,
  GitHostProvider,
  resolveStatusTarget,
  statusContext,
  type CommitStatusReport,
  type SecretSpec,
  type StatusReporting,
} from "@kiln/domain";
import type { Logger } from "pino";
import {
  classifyAnswer,
  HostAnswer,
  statusRequest,
  type CommitStatus,
  type HostCredentials,
  type StatusRequest,
} from "./hosts.js";
import { isNews } from "./news.js";

export interface CommitStatusReporterOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  /** Opens the token in the BuildConfig's Secret. */
  secrets: SecretBox;
  /**
   * Where users reach Kiln's api (`https://kiln.example.com`): a status links to the build's
   * page below it, `/console/ns/<namespace>/builds/<build>`. Without it statuses carry no link,
   * and Bitbucket, which requires one, gets none.
   */
  publicUrl?: string | undefined;
  /** A host that has not answered within this is tried again later. @default 10_000 */
  requestTimeoutMs?: number;
  /** Statuses reported at once (each holds a database connection while it is sent). @default 4 */
  maxConcurrent?: number;
}

/** Why nothing was put on a commit: `status.commitStatus.problem.reason`. */
export const CommitStatusProblem = {
  /** The Secret `statusReporting.secretRef` names does not exist in the BuildConfig's namespace. */
  SecretNotFound: "SecretNotFound",
  /** The Secret is not Opaque, or has no (or an empty) value under the key. */
  SecretKeyMissing: "SecretKeyMissing",
  /** Bitbucket requires a link, and no KILN_PUBLIC_URL is configured. */
  NoTargetUrl: "NoTargetUrl",
  /** The host refused the status for good (a 4xx: a bad token, no access, an unknown commit). */
  StatusRefused: "StatusRefused",
  /** The host kept failing (5xx, no answer) for every delivery the consumer allows. */
  StatusUndelivered: "StatusUndelivered",
} as const;
export type CommitStatusProblem = (typeof CommitStatusProblem)[keyof typeof CommitStatusProblem];

const consumerName = "webhook-receiver-build-status";
/** Bytes of a host's refusal kept in the record and the log. */
const maxAnswerChars = 300;

/**
 * Puts each build's phase on its commit at the git host, for builds whose BuildConfig has
 * `spec.source.git.statusReporting`: pending once it is queued (the scheduler's New or Pending),
 * pending again (GitLab: running) when it runs, then success, failure or cancelled. Reads
 * `build.status-changed` through its own durable consumer; a host that fails is tried again by
 * the consumer's nak backoff. Nothing here changes a build: the report is a side effect,
 * recorded only in the build's `status.commitStatus`.
 */
export class CommitStatusReporter {
  private consumption: Consumption | null = null;
  private readonly log: Logger;

  constructor(private readonly options: CommitStatusReporterOptions) {
    this.log = options.logger.child({ component: "commit-status-reporter" });
  }

  async start(): Promise<void> {
    this.consumption = await this.options.bus.consume(
      consumerName,
      (event, ctx) => this.report(event, ctx),
      { maxConcurrent: this.options.maxConcurrent ?? 4 },
    );
  }

  async stop(): Promise<void> {
    await this.consumption?.stop();
    this.consumption = null;
  }

  /** One status event: decided, sent and recorded under the build's commit-status lock. */
  private async report(event: BuildStatusChangedV1, ctx: DeliveryContext): Promise<void> {
    await withCommitStatusLock(this.options.db, event.buildId, async (tx, build) => {
      const git = build?.spec.source.git;
      if (!build || !git?.statusReporting) return;
      const { target } = resolveStatusTarget(git.uri, git.statusReporting);
      // Apply refuses such a field; a build made by an older Kiln may still hold one.
      if (!target) return;
      const previous = build.commitStatus;
      const at = { phase: event.phase, attempt: event.attempt };
      if (!isNews(previous, at)) return;
      // Known from the start when a push or --commit named it, else once the source is fetched.
      const commit = event.revision?.commit ?? build.spec.revision.commit;
      if (!commit) return;
      const targetUrl = this.targetUrl(build);
      const status: CommitStatus = {
        target,
        commit,
        phase: event.phase,
        context: statusContext(build.namespace, build.spec.buildConfig),
        targetUrl,
        description: describe(build.name, event),
      };
      const base: CommitStatusReport = {
        provider: target.provider,
        context: status.context,
        commit,
        ...at,
        ...(targetUrl === undefined ? {} : { targetUrl }),
      };
      const log = this.log.child({
        buildId: build.id,
        build: build.name,
        namespace: build.namespace,
        phase: event.phase,
        provider: target.provider,
      });
      const problem = async (reason: CommitStatusProblem, message: string) => {
        // Once per build: a problem that stays is not logged again at the build's next phase.
        if (previous?.problem?.reason !== reason)
          log.warn({ reason, problem: message }, "commit status not reported");
        await recordCommitStatus(tx, build.id, { ...base, problem: { reason, message } });
      };

      const credentials = await this.credentials(tx, build.namespace, git.statusReporting);
      if ("problem" in credentials) return problem(credentials.problem, credentials.message);
      if (target.provider === GitHostProvider.Bitbucket && targetUrl === undefined)
        return problem(
          CommitStatusProblem.NoTargetUrl,
          "Bitbucket requires a link on a status: set KILN_PUBLIC_URL on the webhook-receiver",
        );
      const request = statusRequest(status, credentials);
      const answer = await this.send(request, credentials);
      const outcome =
        answer.status === null
          ? HostAnswer.Retry
          : classifyAnswer(target.provider, answer.status, answer.text);
      switch (outcome) {
        case HostAnswer.Taken:
        case HostAnswer.AlreadyThere:
          await recordCommitStatus(tx, build.id, {
            ...base,
            state: request.state,
            reportedAt: new Date().toISOString(),
          });
          log.info({ state: request.state, commit, outcome }, "commit status reported");
          return;
        case HostAnswer.Refused:
          return problem(
            CommitStatusProblem.StatusRefused,
            `${target.provider} answered ${answer.status}: ${answer.text}`,
          );
        case HostAnswer.Retry: {
          const what = answer.status === null ? answer.text : `answered ${answer.status}`;
          // The last delivery the consumer allows: say so on the build instead of vanishing.
          if (ctx.deliveryCount >= consumers[consumerName].maxDeliver)
            return problem(
              CommitStatusProblem.StatusUndelivered,
              `${target.provider} ${what} on each of ${ctx.deliveryCount} tries`,
            );
          // Rolled back, nothing recorded: the nak brings this event back after a backoff.
          throw new RetryableError(`${target.provider} ${what}: the commit status is tried again`);
        }
        default:
          return assertNever(outcome, "host answer");
      }
    });
  }

  /** The build's page in the console, below the public URL. */
  private targetUrl(build: StoredBuild): string | undefined {
    const base = this.options.publicUrl?.replace(/\/+$/, "");
    if (!base) return undefined;
    const ns = encodeURIComponent(build.namespace);
    return `${base}/console/ns/${ns}/builds/${encodeURIComponent(build.name)}`;
  }

  /** The token (and Bitbucket username) from the BuildConfig's Secret, or what is wrong with it. */
  private async credentials(
    tx: Tx,
    namespace: string,
    reporting: StatusReporting,
  ): Promise<HostCredentials | { problem: CommitStatusProblem; message: string }> {
    const name = reporting.secretRef.name;
    const key = reporting.secretRef.key ?? defaultStatusTokenKey;
    const row = await getResource(tx, "Secret", namespace, name);
    if (!row)
      return {
        problem: CommitStatusProblem.SecretNotFound,
        message: `Secret ${namespace}/${name} (statusReporting.secretRef) does not exist`,
      };
    const spec = row.spec as SecretSpec;
    const token = openSecretValue(spec, key, this.options.secrets);
    if (!token)
      return {
        problem: CommitStatusProblem.SecretKeyMissing,
        message: `Secret ${namespace}/${name} has no value under ${key} (an Opaque Secret with the host's token)`,
      };
    const username = openSecretValue(spec, "username", this.options.secrets) ?? undefined;
    return { token, ...(username ? { username } : {}) };
  }

  /**
   * Sends the request; `status: null` when no answer came (refused, timed out). The answer's
   * text is cut short and has the token taken out, should a host echo what it was sent.
   */
  private async send(
    request: StatusRequest,
    credentials: HostCredentials,
  ): Promise<{ status: number | null; text: string }> {
    const secrets = [credentials.token, ...Object.values(request.headers)].filter(
      (v) => v.includes(credentials.token) || v.startsWith("Basic "),
    );
    const clean = (text: string) => redact(text, secrets).slice(0, maxAnswerChars);
    try {
      const res = await fetch(request.url, {
        method: "POST",
        headers: request.headers,
        body: request.body,
        redirect: "error",
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000),
      });
      return { status: res.status, text: clean(await res.text()) };
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      return { status: null, text: clean(`did not answer (${String(cause)})`) };
    }
  }
}

/** Every secret value, and its parts a host might echo (a Basic header's base64), taken out. */
function redact(text: string, secrets: string[]): string {
  const parts = secrets.flatMap((s) => [s, s.replace(/^(Bearer|Basic|token) /, "")]);
  return parts
    .filter((p) => p.length >= 4)
    .reduce((out, part) => out.replaceAll(part, "(redacted)"), text);
}

/** The status's description: the build and what became of it. */
function describe(build: string, event: BuildStatusChangedV1): string {
  const reason = event.reason ? ` (${event.reason})` : "";
  switch (event.phase) {
    case "New":
    case "Pending":
      return `${build} is waiting for a runner`;
    case "Running":
      return `${build} is running`;
    case "Complete":
      return `${build} completed`;
    case "Failed":
      return `${build} failed${reason}`;
    case "Error":
      return `${build} could not run${reason}`;
    case "Cancelled":
      return `${build} was cancelled`;
    default:
      return assertNever(event.phase, "build phase");
  }
}
