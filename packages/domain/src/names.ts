/** Kubernetes DNS-1123 subdomain rule for resource names. */
export const resourceNamePattern = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** Kubernetes DNS-1123 label rule for namespaces. */
export const namespacePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const defaultNamespace = "default";

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
