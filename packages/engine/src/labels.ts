import type { BuildJob, BuildRevision } from "@kiln/domain";

/**
 * OpenShift's source labels plus Kiln's own, so an image says where it came from; sorted, so
 * the same build gives the same labels in the same order.
 */
export function outputLabels(job: BuildJob, revision: BuildRevision | null): [string, string][] {
  const labels: [string, string][] = [
    ["io.openshift.build.name", job.name],
    ["io.openshift.build.namespace", job.namespace],
    ["kiln.dev/buildconfig", job.spec.buildConfig],
    ["kiln.dev/build", job.name],
    ["kiln.dev/build-number", String(job.spec.number)],
  ];
  if (job.spec.source.git)
    labels.push(["io.openshift.build.source-location", job.spec.source.git.uri]);
  if (revision) {
    labels.push(
      ["io.openshift.build.commit.id", revision.commit],
      ["io.openshift.build.commit.author", revision.author],
      ["io.openshift.build.commit.date", revision.date],
      ["io.openshift.build.commit.message", revision.message],
    );
    if (revision.ref) labels.push(["io.openshift.build.commit.ref", revision.ref]);
  }
  for (const l of job.spec.output.imageLabels) labels.push([l.name, l.value]);
  return labels.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
