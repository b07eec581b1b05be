import { DockerfileParser } from "dockerfile-ast";

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

/** A variable a Docker build's stages get: its value, or the private build arg that carries it. */
export type StageEnv = { name: string; value: string } | { name: string; fromArg: string };

/**
 * The strategy's env inserted after every `FROM`, as OpenShift's Docker builder does
 * (`insertEnvAfterFrom`): each stage's RUN steps see it and the image's config has it, and the
 * Dockerfile's own `ENV` of the same name wins. A value is written literally (`$` is not
 * expanded, as buildah's `--env` did not expand it). One that cannot be written into the
 * Dockerfile, or must not be (a Secret's: buildah echoes every instruction into the log), is read
 * from a private build arg instead: `ARG <arg>` and `NAME="${<arg>}"`.
 */
export function insertEnvAfterFrom(dockerfile: string, env: readonly StageEnv[]): string {
  if (env.length === 0) return dockerfile;
  const parsed = DockerfileParser.parse(dockerfile);
  const escape = parsed.getEscapeCharacter();
  const quote = (value: string) =>
    `"${value.replace(/[\\"$`]/g, (c) => (c === "\\" || c === '"' || c === "$" || c === escape ? `${escape}${c}` : c))}"`;
  const args = env.flatMap((e) => ("fromArg" in e ? [e.fromArg] : []));
  const block = [
    ...(args.length > 0 ? [`ARG ${args.join(" ")}`] : []),
    `ENV ${env.map((e) => `${e.name}=${"fromArg" in e ? `"\${${e.fromArg}}"` : quote(e.value)}`).join(" ")}`,
  ];
  const lines = dockerfile.split("\n");
  const ends = parsed.getFROMs().map((from) => from.getRange().end.line);
  for (const end of ends.reverse()) lines.splice(end + 1, 0, ...block);
  return lines.join("\n");
}

/** Whether `value` can be written as a word of an ENV instruction (a newline cannot). */
export function writableInDockerfile(value: string): boolean {
  return !/[\r\n]/.test(value);
}
