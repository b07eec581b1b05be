import { z } from "zod";

/**
 * Kubernetes' DNS-1123 subdomain rule (`IsDNS1123Subdomain`): dot-separated DNS-1123 labels of
 * lowercase letters, digits and `-`, each starting and ending with a letter or digit. `a..b`,
 * `a.-b` and `-a` are not names. Every such name is also a valid image repository component.
 */
export const resourceNamePattern =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kubernetes DNS-1123 label rule for namespaces. */
export const namespacePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A container image tag (distribution's rule): a word character, then up to 127 of `[\w.-]`. */
export const imageTagPattern = /^[\w][\w.-]{0,127}$/;

export const defaultNamespace = "default";

/** Kubernetes' longest DNS-1123 label (a namespace). */
export const maxNamespaceLength = 63;
/** Kubernetes' longest DNS-1123 subdomain (most resources' names). */
export const maxSubdomainLength = 253;
/**
 * The longest container image name, registry and repository without the tag (distribution's
 * `NameTotalLengthMax`, which buildah and registries enforce).
 */
export const maxImageNameLength = 255;
/** A build's number is a PostgreSQL `integer` (`builds.number`): at most 2,147,483,647, 10 digits. */
const maxBuildNumberDigits = 10;
/**
 * The local engine tags each build's image `localhost/kiln/<namespace>/<build>` (the build's own
 * name, so parallel builds never share a tag); the longest of the names Kiln derives.
 */
const localBuildImagePrefix = "localhost/kiln/";

/**
 * The longest BuildConfig name, 165: its builds are named `<name>-<number>`, and the longest
 * derived name, `localhost/kiln/<namespace>/<name>-<number>`, must be an image name of at most
 * 255 characters for any namespace. Everything else derived from it stays valid too: the build
 * name is a DNS-1123 subdomain (at most 176 ≤ 253), the build's work dir
 * `<namespace>-<build>-XXXXXX` is a file name of at most 255 bytes, and the Kubernetes engine
 * shortens Job names and label values (63) with a hash. OpenShift lets a BuildConfig name be any
 * DNS-1123 subdomain and cuts the label values (`openshift.io/build-config.name`); Kiln's local
 * image tag is why it stops shorter.
 */
export const maxBuildConfigNameLength =
  maxImageNameLength -
  localBuildImagePrefix.length -
  maxNamespaceLength -
  "/".length -
  "-".length -
  maxBuildNumberDigits;

const subdomainRule =
  "a lowercase DNS-1123 subdomain: letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit";
const labelRule =
  "a lowercase DNS-1123 label: letters, digits and '-', starting and ending with a letter or digit";

/** A name that is a DNS-1123 subdomain of at most `max` characters; `why` says where a shorter limit comes from. */
export function subdomainName(max: number = maxSubdomainLength, why?: string) {
  return z
    .string()
    .min(1, "required")
    .max(max, `must be at most ${max} characters${why ? ` (${why})` : ""}`)
    .regex(resourceNamePattern, `must be ${subdomainRule}`);
}

/** A namespace name: a DNS-1123 label of at most 63 characters, as in Kubernetes. */
export function namespaceName() {
  return z
    .string()
    .min(1, "required")
    .max(maxNamespaceLength, `must be at most ${maxNamespaceLength} characters`)
    .regex(namespacePattern, `must be ${labelRule}`);
}

/**
 * Null when `<registry>/<namespace>/<imageStream>`, where Kiln keeps an ImageStream's images, is
 * an image name buildah and registries take (at most 255 characters); otherwise why not.
 * OpenShift checks `<namespace>/<name>` alone; Kiln knows its registry, so it checks the whole.
 */
export function imageStreamNameIssue(
  registry: string,
  namespace: string,
  imageStream: string,
): string | null {
  const image = `${registry}/${namespace}/${imageStream}`;
  if (image.length <= maxImageNameLength) return null;
  return `makes the image name ${registry}/${namespace}/… ${image.length} characters, over the ${maxImageNameLength} an image name may have (at most ${maxImageNameLength - registry.length - namespace.length - 2} characters for this name in this namespace)`;
}

/** Builds are named like OpenShift's: `<buildconfig>-<number>`. */
export function buildName(buildConfig: string, number: number): string {
  return `${buildConfig}-${number}`;
}

/** Splits `hello-12` into `{ buildConfig: "hello", number: 12 }`, or null when it is not a build name. */
export function parseBuildName(name: string): { buildConfig: string; number: number } | null {
  const match = /^(.+)-(\d+)$/.exec(name);
  if (!match?.[1] || !match[2]) return null;
  return { buildConfig: match[1], number: Number(match[2]) };
}
