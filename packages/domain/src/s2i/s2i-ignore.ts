/**
 * `.s2iignore`, as s2i applies it (`pkg/ignore`): each non-empty line that is not a `#` comment
 * is a glob (`*`, `?`, `[…]`) relative to the source root, matched like Go's `filepath.Glob`
 * (a `*` never crosses a `/`); whatever it matches is removed, a directory with everything
 * below it. Lines starting with `!` (re-include) are not part of s2i's format and are ignored.
 */
export interface S2IIgnore {
  /** The patterns in effect, for the log. */
  readonly patterns: readonly string[];
  /** Whether `relativePath` (`/`-separated, no leading `./`) or one of its parents is ignored. */
  ignores(relativePath: string): boolean;
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith("^") || body.startsWith("!")) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < glob.length) {
      re += `\\${glob[++i]!}`;
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Parses the text of a `.s2iignore` file (null: no file, nothing ignored). */
export function parseS2IIgnore(text: string | null): S2IIgnore {
  const patterns: string[] = [];
  for (const raw of (text ?? "").split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith("!")) continue;
    // Patterns are relative to the source root; a leading `/` or `./` means the same.
    const pattern = line.replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "");
    if (pattern) patterns.push(pattern);
  }
  const regexps = patterns.map(globToRegExp);
  return {
    patterns,
    ignores(relativePath) {
      const parts = relativePath.split("/").filter(Boolean);
      for (let n = 1; n <= parts.length; n++) {
        const prefix = parts.slice(0, n).join("/");
        if (regexps.some((r) => r.test(prefix))) return true;
      }
      return false;
    },
  };
}
