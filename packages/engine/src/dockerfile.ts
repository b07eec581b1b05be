/**
 * Replaces the image of the last `FROM` (the stage that becomes the output), as OpenShift's
 * `dockerStrategy.from` does. buildah's own `--from` replaces the first one, which is wrong
 * for multi-stage Dockerfiles.
 */
export function overrideLastFrom(dockerfile: string, image: string): string {
  const lines = dockerfile.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = /^(\s*FROM\s+)((?:--\S+\s+)*)(\S+)(.*)$/i.exec(lines[i]!);
    if (match) {
      lines[i] = `${match[1]}${match[2]}${image}${match[4]}`;
      return lines.join("\n");
    }
  }
  return dockerfile;
}

/**
 * The images a Dockerfile pulls: every `FROM` that is not an earlier stage (nor `scratch`) and
 * every `COPY --from=` image, for the runner's image cache to know what a build used.
 */
export function dockerfileImages(dockerfile: string): string[] {
  const stages = new Set<string>();
  const images = new Set<string>();
  for (const line of dockerfile.split("\n")) {
    const from = /^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from?.[1]) {
      if (!stages.has(from[1].toLowerCase()) && from[1] !== "scratch") images.add(from[1]);
      if (from[2]) stages.add(from[2].toLowerCase());
      continue;
    }
    const copy = /^\s*COPY\s.*--from=(\S+)/i.exec(line);
    if (copy?.[1] && !stages.has(copy[1].toLowerCase()) && !/^\d+$/.test(copy[1]))
      images.add(copy[1]);
  }
  return [...images];
}
