import {
  dockerHubRegistry,
  RegistryClient,
  RegistryError,
  RegistryFailure,
  tagReference,
  type ImageName,
  type RegistryClientOptions,
} from "@kiln/registry";
import { ManifestNotFoundError, ManifestUnavailableError } from "./errors.js";

export type ManifestResolverOptions = RegistryClientOptions;

/**
 * Asks a registry which digest a tag points at now (`HEAD /v2/<repo>/manifests/<tag>`),
 * anonymously: anonymous bearer tokens (Docker Hub, Quay, Harbor public projects) are fetched
 * when the registry asks for one.
 */
export class ManifestResolver {
  private readonly client: RegistryClient;

  constructor(options: ManifestResolverOptions = {}) {
    this.client = new RegistryClient(options);
  }

  async resolve(
    image: ImageName & { tag: string },
    options: { insecure: boolean },
  ): Promise<string> {
    const name = tagReference(image, image.tag);
    const host = image.registry === dockerHubRegistry ? "registry-1.docker.io" : image.registry;
    try {
      return await this.client.manifestDigest(
        { host, repository: image.repository, insecure: options.insecure },
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
