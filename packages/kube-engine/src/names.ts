import { createHash } from "node:crypto";

/** Kubernetes' DNS-1123 label rule (names of Jobs, pods' `job-name` label): at most 63 characters. */
export const dns1123LabelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes' label value rule: empty, or at most 63 characters, alphanumeric at both ends. */
export const labelValuePattern = /^(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

const maxLabel = 63;

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}

/**
 * The Job's name: `kiln-<namespace>-<build>-<suffix>`, lowercased to a DNS-1123 label and cut to
 * 63 characters (the Job controller puts it in its pods' `job-name` label, which allows no
 * more). A long name keeps its start and gets a hash of the whole, so two long builds never
 * share a name. `suffix` (5 random characters, `[a-z0-9]`) makes every attempt's Job new, so a
 * retried build never waits for its previous Job to be gone.
 */
export function jobNameFor(build: { namespace: string; name: string }, suffix: string): string {
  const slug = `kiln-${build.namespace}-${build.name}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-");
  const room = maxLabel - suffix.length - 1;
  const base =
    slug.length <= room ? slug : `${slug.slice(0, room - 9).replace(/-+$/, "")}-${shortHash(slug)}`;
  return `${base.replace(/-+$/, "")}-${suffix}`;
}

/**
 * A label value for a Kiln name (a build, a BuildConfig, a namespace). Kiln's names are DNS
 * subdomains, so only their length can be wrong: a longer one keeps its start and gets a hash of
 * the whole. The exact names are in the Job's annotations.
 */
export function labelValueFor(name: string): string {
  if (name.length <= maxLabel && labelValuePattern.test(name)) return name;
  const cleaned = name.replace(/[^A-Za-z0-9_.-]+/g, "-");
  return `${cleaned.slice(0, maxLabel - 9).replace(/[^A-Za-z0-9]+$/, "")}-${shortHash(name)}`;
}

/** 5 characters of `[a-z0-9]` for a Job name (as `generateName` would add). */
export function randomSuffix(random: () => number = Math.random): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  return Array.from({ length: 5 }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
}
