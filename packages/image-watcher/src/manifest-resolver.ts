import {
  basicAuthOf,
  dockerHubRegistry,
  normaliseRegistry,
  RegistryClient,
  RegistryError,
  RegistryFailure,
  tagReference,
  type BasicCredentials,
  type ImageName,
  type RegistryClientOptions,
} from "@kiln/registry";
import { ManifestNotFoundError, ManifestUnavailableError } from "./errors.js";

export type ManifestResolverOptions = RegistryClientOptions & {
  /** Kiln's registry (`host:port`) and the image-watcher's account there; sent to that registry only. */
  kilnRegistry?: { registry: string; credentials: BasicCredentials } | undefined;
};

/**
 * Asks a registry which digest a tag points at now (`HEAD /v2/<repo>/manifests/<tag>`): Kiln's
 * own registry with the image-watcher's account, every other one anonymously (anonymous bearer
 * tokens, as Docker Hub, Quay and Harbor public projects give, are fetched when asked for).
 */
export class ManifestResolver {
  private readonly client: RegistryClient;
  private readonly kiln: { registry: string; basicAuth: string } | undefined;

  constructor(options: ManifestResolverOptions = {}) {
    const { kilnRegistry, ...clientOptions } = options;
    this.client = new RegistryClient(clientOptions);
    this.kiln = kilnRegistry && {
      registry: normaliseRegistry(kilnRegistry.registry),
      basicAuth: basicAuthOf(kilnRegistry.credentials),
    };
  }

  async resolve(
    image: ImageName & { tag: string },
    options: { insecure: boolean },
  ): Promise<string> {
    const name = tagReference(image, image.tag);
    const host = image.registry === dockerHubRegistry ? "registry-1.docker.io" : image.registry;
    try {
      return await this.client.manifestDigest(
        {
          host,
          repository: image.repository,
          insecure: options.insecure,
          basicAuth: image.registry === this.kiln?.registry ? this.kiln.basicAuth : undefined,
        },
        image.tag,
      );
    } catch (error) {
      if (error instanceof RegistryError && error.reason === RegistryFailure.NotFound)
        throw new ManifestNotFoundError(name);
      throw new ManifestUnavailableError(
        name,
        `${name}: ${error instanceof RegistryError ? error.detail : "the registry could not be reached"}`,
        { cause: error },
      );
    }
  }
}
