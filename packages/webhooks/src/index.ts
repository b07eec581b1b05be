/**
 * @kiln/webhooks — git webhooks into builds: provider parsers (pure), signature checks, ref
 * matching, and the `WebhookReceiver` HTTP component the webhook-receiver service runs.
 */
export { WebhookError, WebhookErrorReason, WebhookParseError } from "./errors.js";
export { fallbackDefaultBranches, matchEvent, SkipReason } from "./match.js";
export type { MatchResult, MatchTarget } from "./match.js";
export { globToRegExp, isGlob } from "./glob.js";
export {
  HookType,
  hookTypes,
  isHookType,
  parseBitbucket,
  parseGeneric,
  parseGitea,
  parseGitHub,
  parseGitLab,
} from "./providers/index.js";
export type { HookTypeDef } from "./providers/index.js";
export { GitProvider } from "./push-event.js";
export type { GitHookEvent, HookHeaders, HookParser, ParsedHook, RefChange } from "./push-event.js";
export { requestProvesSecret } from "./signature.js";
export { constantTimeEqual, hmacSha256Hex, signatureMatches } from "./verify.js";
export { defaultWebhookTimeouts, WebhookReceiver } from "./webhook-receiver.js";
export type { DeliveryAnswer, WebhookReceiverOptions } from "./webhook-receiver.js";
export { DeliverySweeper } from "./delivery-sweeper.js";
export type { DeliverySweeperOptions, SweepResult } from "./delivery-sweeper.js";
export { GitPoller } from "./git-poller.js";
export type { GitPollerOptions } from "./git-poller.js";
export { CommitStatusProblem, CommitStatusReporter } from "./commit-status/reporter.js";
export type { CommitStatusReporterOptions } from "./commit-status/reporter.js";
