import { accessSync, constants, readdirSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { MissingDependencyError, type MissingDependency } from "./errors.js";

/** Absolute paths of the host programs Kiln runs. */
export type Binaries = {
  natsServer: string;
  postgres: string;
  initdb: string;
  registry: string;
  buildah: string;
  git: string;
};
export type BinaryName = keyof Binaries;

const programs: Record<BinaryName, { file: string; debianPackage: string }> = {
  natsServer: { file: "nats-server", debianPackage: "nats-server" },
  postgres: { file: "postgres", debianPackage: "postgresql" },
  initdb: { file: "initdb", debianPackage: "postgresql" },
  registry: { file: "docker-registry", debianPackage: "docker-registry" },
  buildah: { file: "buildah", debianPackage: "buildah" },
  git: { file: "git", debianPackage: "git" },
};

const allNames = Object.keys(programs) as BinaryName[];

// Debian puts nats-server in /usr/sbin, which an ordinary user's PATH usually lacks.
const sbinDirs = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

// Debian installs postgres outside PATH (only pg_wrapper's client tools are linked into /usr/bin).
const postgresRoot = "/usr/lib/postgresql";

export type FindBinariesOptions = {
  /** Directories to search, in order. @default process.env.PATH plus the sbin directories */
  searchPath?: string;
  /** Where Debian keeps versioned postgres installs. @default "/usr/lib/postgresql" */
  postgresRoot?: string;
  /** Searched after `searchPath`. @default ["/usr/local/sbin", "/usr/sbin", "/sbin"] */
  sbinDirs?: readonly string[];
};

/**
 * Finds the host programs. Throws one `MissingDependencyError` naming every missing program
 * and its Debian package.
 */
export function findBinaries(options?: FindBinariesOptions): Binaries;
export function findBinaries<K extends BinaryName>(
  names: readonly K[],
  options?: FindBinariesOptions,
): Pick<Binaries, K>;
export function findBinaries(
  namesOrOptions?: readonly BinaryName[] | FindBinariesOptions,
  maybeOptions?: FindBinariesOptions,
): Partial<Binaries> {
  // Array.isArray does not narrow readonly arrays, hence the explicit guard.
  const isList = (v: unknown): v is readonly BinaryName[] => Array.isArray(v);
  const names = isList(namesOrOptions) ? namesOrOptions : allNames;
  const options = (isList(namesOrOptions) ? maybeOptions : namesOrOptions) ?? {};
  const dirs = [
    ...(options.searchPath ?? process.env.PATH ?? "").split(delimiter),
    ...(options.sbinDirs ?? sbinDirs),
  ].filter((d) => d !== "");
  const found: Partial<Binaries> = {};
  const missing: MissingDependency[] = [];
  for (const name of names) {
    const { file, debianPackage } = programs[name];
    const isPostgres = name === "postgres" || name === "initdb";
    const path =
      searchDirs(dirs, file) ??
      (isPostgres
        ? searchDirs(postgresBinDirs(options.postgresRoot ?? postgresRoot), file)
        : undefined);
    if (path === undefined) missing.push({ name: file, debianPackage });
    else found[name] = path;
  }
  if (missing.length > 0) throw new MissingDependencyError(missing);
  return found;
}

function searchDirs(dirs: readonly string[], file: string): string | undefined {
  for (const dir of dirs) {
    const candidate = join(dir, file);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `/usr/lib/postgresql/<version>/bin`, highest version first. */
function postgresBinDirs(root: string): string[] {
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return [];
  }
  return versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    .map((v) => join(root, v, "bin"));
}
