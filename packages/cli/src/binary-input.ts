import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { basename } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { runCommand } from "@kiln/runtime";
import { UsageError } from "./errors.js";

/** Which `--from-*` flag was given, with its path. */
export type BinarySourceFlag = { flag: "from-file" | "from-dir" | "from-archive"; path: string };

export interface BinaryUpload {
  kind: "file" | "archive";
  asFile?: string | undefined;
  /** Known for a file or an archive; a directory is archived as it streams. */
  size?: number | undefined;
  body: ReadableStream<Uint8Array>;
  /** What the user is told (`Uploading directory "app" as binary input`). */
  description: string;
}

/** The one `--from-*` flag given, or null; more than one is a usage error. */
export function binarySourceFlag(options: {
  fromFile?: string | undefined;
  fromDir?: string | undefined;
  fromArchive?: string | undefined;
}): BinarySourceFlag | null {
  const given = (
    [
      ["from-file", options.fromFile],
      ["from-dir", options.fromDir],
      ["from-archive", options.fromArchive],
    ] as const
  ).filter(([, path]) => path !== undefined);
  if (given.length > 1)
    throw new UsageError(`use only one of ${given.map(([f]) => `--${f}`).join(", ")}`);
  const [only] = given;
  return only ? { flag: only[0], path: only[1] as string } : null;
}

async function statOrUsage(path: string, flag: string, want: "file" | "directory") {
  const st = await stat(path).catch(() => null);
  if (!st) throw new UsageError(`--${flag} ${path}: no such ${want}`);
  if (want === "file" && !st.isFile())
    throw new UsageError(
      `--${flag} ${path}: not a regular file${st.isDirectory() ? " (use --from-dir for a directory)" : ""}`,
    );
  if (want === "directory" && !st.isDirectory())
    throw new UsageError(
      `--${flag} ${path}: not a directory${st.isFile() ? " (use --from-file or --from-archive for a file)" : ""}`,
    );
  return st;
}

/**
 * Opens what a `--from-*` flag names as a stream for the API (OpenShift's `oc start-build`
 * semantics): a file is sent as is with its base name as `asFile`; a directory is archived with
 * the system `tar` as it uploads (symlinks are stored as links, never followed, so nothing
 * outside the directory is read); an archive (tar or tar.gz) is sent as is.
 */
export async function openBinaryUpload(
  source: BinarySourceFlag,
  tarBinary = "tar",
): Promise<BinaryUpload> {
  switch (source.flag) {
    case "from-file": {
      const st = await statOrUsage(source.path, source.flag, "file");
      const asFile = basename(source.path);
      return {
        kind: "file",
        asFile,
        size: st.size,
        body: toWeb(createReadStream(source.path)),
        description: `Uploading file ${JSON.stringify(source.path)} as binary input`,
      };
    }
    case "from-archive": {
      const st = await statOrUsage(source.path, source.flag, "file");
      // Zip needs its central directory (at the end) to be read first: no streaming unpack, so no zip.
      const head = Buffer.alloc(4);
      const fh = await open(source.path, "r");
      await fh.read(head, 0, 4, 0).finally(() => fh.close());
      if (head.toString("latin1") === "PK\x03\x04")
        throw new UsageError(
          `--from-archive ${source.path}: zip archives are not supported; use a tar or tar.gz`,
        );
      return {
        kind: "archive",
        size: st.size,
        body: toWeb(createReadStream(source.path)),
        description: `Uploading archive ${JSON.stringify(source.path)} as binary input`,
      };
    }
    case "from-dir": {
      await statOrUsage(source.path, source.flag, "directory");
      return {
        kind: "archive",
        body: toWeb(Readable.from(tarDirectory(source.path, tarBinary))),
        description: `Uploading directory ${JSON.stringify(source.path)} as binary input`,
      };
    }
  }
}

/** The directory's contents as a tar stream; fails the stream (so the upload aborts) if tar fails. */
async function* tarDirectory(dir: string, tarBinary: string): AsyncGenerator<Buffer> {
  const stdout = new PassThrough();
  const stderr: string[] = [];
  // Aborted when the upload stops reading early: tar and anything it forked are stopped.
  const stop = new AbortController();
  const run = runCommand({
    command: tarBinary,
    args: ["-C", dir, "-cf", "-", "."],
    stdout: { pipe: stdout },
    onLine: (line) => stderr.push(line),
    signal: stop.signal,
  });
  // A tar that cannot start never ends its stdout: end the stream with why.
  void run.catch((error: unknown) =>
    stdout.destroy(error instanceof Error ? error : new Error(String(error))),
  );
  try {
    for await (const chunk of stdout) yield chunk as Buffer;
    const { exitCode } = await run;
    if (exitCode !== 0)
      throw new UsageError(
        `archiving ${dir} with ${tarBinary} failed (exit ${exitCode}): ${stderr.join("\n").trim().split("\n").pop() ?? ""}`,
      );
  } finally {
    stop.abort();
  }
}

function toWeb(stream: Readable): ReadableStream<Uint8Array> {
  return Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
}
