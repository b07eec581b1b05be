/**
 * kubectl-style tables: UPPERCASE headers, columns left-aligned and separated by three spaces,
 * no trailing whitespace, so `awk '{print $1}'` and eyes both work.
 */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const all = [
    headers.map((h) => h.toUpperCase()),
    ...rows.map((r) => headers.map((_, i) => clean(r[i] ?? ""))),
  ];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ""))));
  return all
    .map((row) =>
      row
        .map((cell, i) =>
          i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - width(cell)),
        )
        .join("   ")
        .trimEnd(),
    )
    .join("\n")
    .concat("\n");
}

/** A cell must stay on one line or the columns break. */
function clean(cell: string): string {
  return cell.replace(/\s*[\r\n]+\s*/g, " ");
}

/** Code points, not UTF-16 units, so an accented name does not shift the columns. */
function width(cell: string): number {
  return [...cell].length;
}
