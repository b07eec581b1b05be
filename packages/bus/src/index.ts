/**
 * Kiln's bus: the catalogue of subjects, streams and consumers; versioned, schema-checked
 * payloads; a consumer wrapper that ends every delivery in exactly one ack, nak or term.
 */
export { Bus } from "./bus.js";
export type { BusOptions, ConsumeOptions, Consumption, DeliveryContext, Handler } from "./bus.js";
export { consumers, events, objectStores, streams } from "./catalog.js";
export type {
  ConsumerName,
  EventInput,
  EventPayload,
  EventType,
  ObjectStoreKey,
  StreamKey,
} from "./catalog.js";
export { jsonCodec } from "./codec.js";
export type { Codec } from "./codec.js";
export {
  DecodeError,
  isNonRetryable,
  MessageTooLargeError,
  ObjectCorruptError,
  NonRetryableError,
  RetryableError,
} from "./errors.js";
export {
  BuildCancelRequestedV1,
  BuildDispatchedV2,
  BuildLogAppendedV1,
  BuildRequestedV1,
  BuildStatusChangedV1,
  DeployStatusChangedV1,
  DeployTargetV1,
  ImageChangedV1,
  imageChangeKey,
} from "./events.js";
export { BusLoginRefusedError, BusNotReadyError, BusUnavailableError } from "./errors.js";
export { busIdentities, busNatsUsers, createBusCredentials, nkeyPublicKey } from "./identities.js";
export type { BusCredentials, NatsUser } from "./identities.js";
export { busRoleNames, busRoles, inboxPrefixFor, natsPermissions } from "./roles.js";
export type { BusIdentity, BusRole, NatsPermissions } from "./roles.js";
export {
  createSealingKeyPair,
  CredentialsSealError,
  RegistryCredentials,
  sealCredentials,
  unsealCredentials,
} from "./sealed-credentials.js";
export type { SealingKeyPair } from "./sealed-credentials.js";
export { setUpBus } from "./set-up.js";
export { buildRequestMessageId, requestBuild } from "./build-request.js";
export type { BuildRequest } from "./build-request.js";
