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
