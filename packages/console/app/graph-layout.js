/**
 * Places a DAG's nodes in columns, left to right: each node one column right of its furthest
 * upstream node (longest path), nodes of a column ordered by name. Small and ours: chains are
 * tens of nodes, not thousands.
 */
export function layout(nodes, edges, { width = 210, height = 46, gapX = 70, gapY = 22 } = {}) {
  const upstream = new Map(nodes.map((n) => [n, []]));
  for (const [from, to] of edges) upstream.get(to)?.push(from);
  const column = new Map();
  const visiting = new Set();
  const columnOf = (node) => {
    if (column.has(node)) return column.get(node);
    if (visiting.has(node)) return 0; // a cycle (refused at apply): do not loop
    visiting.add(node);
    const c = Math.max(-1, ...upstream.get(node).map(columnOf)) + 1;
    visiting.delete(node);
    column.set(node, c);
    return c;
  };
  const columns = [];
  for (const node of [...nodes].sort()) (columns[columnOf(node)] ??= []).push(node);
  const positions = new Map();
  columns.forEach((names, c) =>
    names.forEach((name, r) =>
      positions.set(name, { x: c * (width + gapX), y: r * (height + gapY), width, height }),
    ),
  );
  const rows = Math.max(1, ...columns.map((names) => names?.length ?? 0));
  return {
    positions,
    width: Math.max(1, columns.length) * (width + gapX) - gapX,
    height: rows * (height + gapY) - gapY,
  };
}
