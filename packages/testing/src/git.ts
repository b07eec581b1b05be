import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { runChecked } from "@kiln/runtime";

export type GitRepo = {
  /** Working tree of the repository. */
  dir: string;
  /** `file://…` clone URL. */
  url: string;
  /** HEAD commit sha. */
  commit: string;
  remove(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

// Fixed identity and dates make the commit sha a function of the files alone, so a failing
// test shows the same sha on every run.
const gitEnv = {
  GIT_AUTHOR_NAME: "Kiln Test",
  GIT_AUTHOR_EMAIL: "test@kiln.invalid",
  GIT_COMMITTER_NAME: "Kiln Test",
  GIT_COMMITTER_EMAIL: "test@kiln.invalid",
  GIT_AUTHOR_DATE: "2024-01-01T00:00:00Z",
  GIT_COMMITTER_DATE: "2024-01-01T00:00:00Z",
  // Ignore the machine's ~/.gitconfig and /etc/gitconfig (hooks, signing, templates).
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
};

/**
 * Creates a git repository with one commit on `main` holding `files` (path → content).
 * Files whose content starts with `#!` are made executable (S2I scripts, entrypoints).
 */
export async function makeGitRepo(
  files: Record<string, string>,
  options: { parentDir?: string } = {},
): Promise<GitRepo> {
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), "kiln-git-"));
  // Readable by everyone, as a git host's repositories are to Kiln's runner (the build user).
  await chmod(dir, 0o755);
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
    if (content.startsWith("#!")) await chmod(file, 0o755);
  }
  const git = (...args: string[]) => runChecked("git", args, { cwd: dir, env: gitEnv });
  await git("init", "--quiet", "--initial-branch=main");
  await git("add", "--all");
  await git("commit", "--quiet", "--allow-empty", "--message", "initial commit");
  const commit = (await git("rev-parse", "HEAD")).stdout.trim();
  const remove = () => rm(dir, { recursive: true, force: true });
  return { dir, url: pathToFileURL(dir).href, commit, remove, [Symbol.asyncDispose]: remove };
}
