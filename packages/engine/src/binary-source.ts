import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import { BuildFailure, FailureReason, type BinaryInput, type BuildJob } from "@kiln/domain";
import { InvalidArchiveError, UnsafeArchiveError } from "./archive/errors.js";
import { safeExtractTar } from "./archive/safe-extract.js";

export interface FetchBinarySourceOptions {
  job: BuildJob;
  /** The source dir to create and fill. */
  dir: string;
  /** Largest unpacked size accepted (a single file, or an archive's files together). */
  maxBytes: number;
  onLine: (line: string) => void;
}

/** A file name for `asFile`: one path component, so it can only land in the source dir. */
const plainFileName = /^(?!\.{1,2}$)[^/\0]{1,255}$/;

const fail = (message: string, cause?: unknown) =>
  new BuildFailure(
    FailureReason.InvalidBinaryInput,
    message,
    cause === undefined ? undefined : { cause },
  );

/**
 * Fills the source dir of a binary build from its upload: `kind: file` becomes `<dir>/<asFile>`,
 * `kind: archive` is unpacked with `safeExtractTar`. The bytes are checked against the size and
 * SHA-256 the api recorded, so a swapped or damaged object fails the build instead of building.
 */
export async function fetchBinarySource(options: FetchBinarySourceOptions): Promise<void> {
  const { job, dir, maxBytes, onLine } = options;
  const binary = job.spec.binaryInput;
  if (!binary || !job.openBinaryInput) {
    throw fail(
      "this BuildConfig has a Binary source: start it with `kiln start-build --from-file, --from-dir or --from-archive`",
    );
  }
  onLine(
    `Receiving binary input (${binary.kind}${binary.asFile ? ` ${binary.asFile}` : ""}, ${binary.size} bytes, sha256 ${binary.sha256.slice(0, 12)})`,
  );
  const input = checked(job.openBinaryInput(), binary);
  await mkdir(dir, { recursive: true });
  try {
    if (binary.kind === "file") {
      const name = binary.asFile ?? "";
      if (!plainFileName.test(name))
        throw fail(`asFile ${JSON.stringify(name)} must be a plain file name`);
      await writeSingleFile(input, join(dir, name), maxBytes);
      onLine(`Wrote ${name}`);
    } else {
      await safeExtractTar(input, dir, { maxBytes });
      onLine("Extracted the archive");
    }
  } catch (error) {
    if (error instanceof UnsafeArchiveError || error instanceof InvalidArchiveError)
      throw fail(`refused the uploaded archive: ${error.message}`, error);
    throw error;
  }
}

/** Passes the bytes through, failing at the end if their size or SHA-256 differ from the upload's. */
async function* checked(
  input: AsyncIterable<Uint8Array>,
  binary: BinaryInput,
): AsyncGenerator<Uint8Array> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of input) {
    hash.update(chunk);
    size += chunk.length;
    yield chunk;
  }
  const sha256 = hash.digest("hex");
  if (size !== binary.size || sha256 !== binary.sha256) {
    throw fail(
      `the binary input read back differs from the upload (${size} bytes, sha256 ${sha256}; expected ${binary.size} bytes, ${binary.sha256})`,
    );
  }
}

async function writeSingleFile(
  input: AsyncIterable<Uint8Array>,
  path: string,
  maxBytes: number,
): Promise<void> {
  // O_EXCL | O_NOFOLLOW: the source dir is fresh, so anything already there is a bug, never a target.
  // Executable: the upload carries no mode, and a single uploaded file is most often a program.
  const handle = await open(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o755,
  );
  try {
    let written = 0;
    for await (const chunk of input) {
      written += chunk.length;
      if (written > maxBytes)
        throw fail(
          `the uploaded file is larger than ${maxBytes} bytes (BUILD_RUNNER_MAX_INPUT_BYTES)`,
        );
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
}
