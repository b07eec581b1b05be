/**
 * kubectl-style tables: UPPERCASE headers, columns left-aligned and separated by three spaces,
 * no trailing whitespace, so `awk '{print $1}'` and eyes both work.
 */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = columnWidths(headers, rows);
  return renderRows([headers.map((h) => h.toUpperCase()), ...rows], widths);
}

/** The widest cell of each column, the header's included. */
export function columnWidths(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): number[] {
  return headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(clean(r[i] ?? "")))));
}

/**
 * Rows laid out in `widths`, one per line. `kiln get builds -w` prints its later rows with the
 * first table's widths so they stay under its headers; a wider cell only pushes its own row.
 */
export function renderRows(
  rows: readonly (readonly string[])[],
  widths: readonly number[],
): string {
  return rows
    .map((row) =>
      widths
        .map((w, i) => {
          const cell = clean(row[i] ?? "");
          return i === widths.length - 1 ? cell : cell + " ".repeat(Math.max(0, w - width(cell)));
        })
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
