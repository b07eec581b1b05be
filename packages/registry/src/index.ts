export { RegistryError, RegistryFailure } from "./errors.js";
export {
  basicAuthOf,
  basicCredentialsFor,
  dockerConfigFor,
  withBasicCredentials,
  type BasicCredentials,
  type DockerConfig,
} from "./docker-config.js";
export {
  acceptManifests,
  RegistryClient,
  type FetchedManifest,
  type RegistryClientOptions,
  type RegistryRepository,
} from "./registry-client.js";
export {
  digestReference,
  dockerHubRegistry,
  isDigest,
  normaliseRegistry,
  parseImageName,
  tagReference,
  type ImageName,
} from "./image-name.js";
