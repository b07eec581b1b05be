/**
 * One-word reasons stored on a failed build (`builds.reason`, `status.reason` on the wire).
 * Shaped after OpenShift's build status reasons and Shipwright's failure reasons, so a platform
 * engineer recognises them. Never branch on a message string: branch on these.
 */
export const FailureReason = {
  /** The source could not be cloned or the commit/ref could not be checked out. */
  FetchSourceFailed: "FetchSourceFailed",
  /**
   * The uploaded binary input (`start-build --from-file/--from-dir/--from-archive`) is missing,
   * corrupt, too large, or an unsafe archive (absolute paths, `..`, links leading outside, devices).
   */
  InvalidBinaryInput: "InvalidBinaryInput",
  /** A base or builder image could not be pulled. */
  PullImageFailed: "PullImageFailed",
  /** The Dockerfile build (buildah bud) exited non-zero. */
  DockerBuildFailed: "DockerBuildFailed",
  /** The S2I assemble script exited non-zero. */
  AssembleFailed: "AssembleFailed",
  /** An S2I script that must exist (`assemble`, `run`) is in none of the places the spec looks. */
  ScriptsNotFound: "ScriptsNotFound",
  /** S2I scripts were asked for at a location Kiln cannot read (for example an http(s) URL). */
  ScriptsFetchFailed: "ScriptsFetchFailed",
  /** The S2I assemble (or runtime) user is root, non-numeric, or outside the allowed uids. */
  AssembleUserNotAllowed: "AssembleUserNotAllowed",
  /** The S2I runtime artifacts are missing or not a valid `absolute source → relative dir` mapping. */
  RuntimeArtifactsInvalid: "RuntimeArtifactsInvalid",
  /** The source (or an image source path) is unusable: a path that points outside, a missing directory. */
  InvalidSource: "InvalidSource",
  /** A Secret the BuildConfig names (pull or push credentials) does not exist or is unusable. */
  MissingSecret: "MissingSecret",
  /** The image could not be committed. */
  CommitFailed: "CommitFailed",
  /**
   * The BuildConfig's post-commit hook (`spec.postCommit`) exited non-zero, or its container
   * could not be started: the image was not pushed. OpenShift's word.
   */
  PostCommitHookFailed: "PostCommitHookFailed",
  /** The image could not be pushed to its registry. */
  PushFailed: "PushFailed",
  /** `completionDeadlineSeconds` passed before the build ended. */
  DeadlineExceeded: "DeadlineExceeded",
  /** The build's output reference is unusable (for example an ImageStreamTag without a tag). */
  InvalidOutputReference: "InvalidOutputReference",
  /**
   * The build pulls from or pushes to another namespace's ImageStream that no ImageStreamGrant
   * of that namespace allows (any more): checked when the build is dispatched.
   */
  ImageAccessDenied: "ImageAccessDenied",
  /** The build was cancelled by a user. */
  CancelledBuild: "CancelledBuild",
  /**
   * `kubernetes` engine: the cluster refused the build's Job or its Secret, or its pod never
   * started (unschedulable, the Kiln image cannot be pulled). OpenShift's word.
   */
  CannotCreateBuildPod: "CannotCreateBuildPod",
  /** `kubernetes` engine: a build container was killed for using more memory than its limit. OpenShift's word. */
  OutOfMemoryKilled: "OutOfMemoryKilled",
  /** `kubernetes` engine: the build pod was evicted from its node, or deleted by someone else. OpenShift's word. */
  BuildPodEvicted: "BuildPodEvicted",
  /**
   * The build's dispatch (its spec: an inline Dockerfile, env; its sealed registry credentials)
   * is larger than the bus carries, so no runner can be given it. The api refuses such input;
   * this is for what reached the scheduler another way (a BuildConfig applied before the limit).
   */
  SpecTooLarge: "SpecTooLarge",
  /** The runner that held the build stopped answering and the build could not be retried. */
  RunnerLost: "RunnerLost",
  /** An unexpected error inside Kiln, not the user's input. */
  InternalError: "InternalError",
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];
