import { posix } from "node:path";
import { readTar, TarEntryType } from "../archive/tar-reader.js";

/** What a path is in the base image's flattened file system. */
export type BaseNode = "dir" | "symlink" | "other";
/** Paths without a leading `/` (`usr/bin`). */
export type BaseTree = ReadonlyMap<string, BaseNode>;

/**
 * The base's flattened file system, names and kinds only: the layers applied in order with
 * their whiteouts (`.wh.name` removes a path, `.wh..wh..opq` what lower layers had in a
 * directory). The layer-append writer needs it to do what buildah does to an existing
 * directory (leave it) and to a missing one (create it with the COPY's owner).
 */
export async function flattenBaseTree(
  layers: readonly AsyncIterable<Uint8Array>[],
): Promise<Map<string, BaseNode>> {
  const tree = new Map<string, BaseNode>();
  const removeBelow = (dir: string, keep: Set<string>) => {
    const prefix = dir === "" ? "" : `${dir}/`;
    for (const path of tree.keys())
      if (path.startsWith(prefix) && !keep.has(path)) tree.delete(path);
  };
  for (const layer of layers) {
    const added = new Set<string>();
    for await (const entry of readTar(layer)) {
      const path = posix
        .normalize(entry.path)
        .replace(/^(\.\/|\/)+/, "")
        .replace(/\/$/, "");
      if (path === "." || path === "") continue;
      const name = posix.basename(path);
      const dir = posix.dirname(path) === "." ? "" : posix.dirname(path);
      if (name === ".wh..wh..opq") {
        removeBelow(dir, added);
        continue;
      }
      if (name.startsWith(".wh.")) {
        const gone = dir ? `${dir}/${name.slice(4)}` : name.slice(4);
        tree.delete(gone);
        removeBelow(gone, new Set());
        continue;
      }
      tree.set(
        path,
        entry.type === TarEntryType.Directory
          ? "dir"
          : entry.type === TarEntryType.Symlink
            ? "symlink"
            : "other",
      );
      added.add(path);
    }
  }
  return tree;
}
