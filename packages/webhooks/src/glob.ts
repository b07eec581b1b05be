/**
 * A ref pattern as a RegExp: `*` matches within one path segment, `**` across segments, `?` one
 * character; everything else is literal. `release/*` matches `release/1.2`, not `release/1/2`.
 */
export function globToRegExp(pattern: string): RegExp {
  let compiled = compiledPatterns.get(pattern);
  if (!compiled) {
    // Every delivery matches against its BuildConfig's ref: compile each pattern once.
    if (compiledPatterns.size >= 1000) compiledPatterns.clear();
    compiled = compile(pattern);
    compiledPatterns.set(pattern, compiled);
  }
  return compiled;
}

const compiledPatterns = new Map<string, RegExp>();

function compile(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      out += ".*";
      i += 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

export function isGlob(pattern: string): boolean {
  return /[*?]/.test(pattern);
}
