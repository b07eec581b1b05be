/**
 * `/etc/subuid` and `/etc/subgid`: `name-or-uid:first:count` per line. newuidmap lets a user map
 * only these ranges (and its own uid) into a user namespace, so they are what rootless builds
 * can use: a build's uid 0 is the build user, its uids 1… are the first of these ranges.
 */
export interface SubordinateRange {
  first: number;
  count: number;
}

/** The ranges of one user (by name or by uid, as newuidmap accepts both), in file order. */
export function subordinateRangesOf(
  fileText: string,
  user: { name: string; uid: number },
): SubordinateRange[] {
  const ranges: SubordinateRange[] = [];
  for (const line of fileText.split("\n")) {
    const [owner, first, count] = line.trim().split(":");
    if (owner !== user.name && owner !== String(user.uid)) continue;
    const range = { first: Number(first), count: Number(count) };
    if (Number.isSafeInteger(range.first) && Number.isSafeInteger(range.count) && range.count > 0)
      ranges.push(range);
  }
  return ranges;
}

/** Every range in the file, whoever owns it (to find a free one). */
function allRanges(fileText: string): SubordinateRange[] {
  return fileText
    .split("\n")
    .map((line) => line.trim().split(":"))
    .filter((fields) => fields.length === 3)
    .map(([, first, count]) => ({ first: Number(first), count: Number(count) }))
    .filter((r) => Number.isSafeInteger(r.first) && Number.isSafeInteger(r.count));
}

/**
 * A range of `count` ids that overlaps none in either file, for the fix Kiln prints: above
 * every existing range, aligned to 65536, and never below 100000 (where `useradd` starts).
 */
export function freeSubordinateRange(
  subuidText: string,
  subgidText: string,
  count = 65536,
): SubordinateRange {
  const end = Math.max(
    100_000,
    ...[...allRanges(subuidText), ...allRanges(subgidText)].map((r) => r.first + r.count),
  );
  return { first: Math.ceil(end / 65536) * 65536, count };
}

/** How many subordinate ids a build's user namespace can use (of the first range of each file). */
export function buildIdMapSize(
  uidRanges: readonly SubordinateRange[],
  gidRanges: readonly SubordinateRange[],
): number {
  return Math.min(uidRanges[0]?.count ?? 0, gidRanges[0]?.count ?? 0, maxIdMapSize);
}

/** 65536 ids cover every uid an image normally uses (up to 65534, `nobody`). */
export const maxIdMapSize = 65536;
