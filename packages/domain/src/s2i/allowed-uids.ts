/**
 * OpenShift's allowed-UIDs rule (s2i `--allowed-uids`, the builder's `ALLOWED_UIDS`): a
 * comma-separated list of ranges `a-b`, `a-` (to the largest uid), `-b` (from 0) or `a`. When
 * the list is not empty, an image may only build as a *numeric* user inside one of the ranges,
 * so a name such as `root` (which could be anyone) is refused just like uid 0.
 */

/** The largest valid uid (`(uid_t)-1` is "no user"). */
export const maxUid = 4_294_967_294;

/** An inclusive range of uids. */
export interface UidRange {
  from: number;
  to: number;
}

/** The parse failed; `input` is the offending part. */
export class UidRangeError extends Error {
  constructor(readonly input: string) {
    super(
      `invalid uid range ${JSON.stringify(input)}: use a-b, a-, -b or a with 0 <= a <= b <= ${maxUid}`,
    );
    this.name = "UidRangeError";
  }
}

function parseUid(text: string, whole: string): number {
  if (!/^\d+$/.test(text)) throw new UidRangeError(whole);
  const n = Number(text);
  if (n > maxUid) throw new UidRangeError(whole);
  return n;
}

/** Parses `1-4294967294,0`; an empty string is an empty list (no check at all, as in s2i). */
export function parseUidRanges(text: string): UidRange[] {
  const ranges: UidRange[] = [];
  for (const raw of text.split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const dash = part.indexOf("-");
    let range: UidRange;
    if (dash < 0) {
      const uid = parseUid(part, part);
      range = { from: uid, to: uid };
    } else {
      const from = part.slice(0, dash).trim();
      const to = part.slice(dash + 1).trim();
      range = { from: from ? parseUid(from, part) : 0, to: to ? parseUid(to, part) : maxUid };
    }
    if (range.from > range.to) throw new UidRangeError(part);
    ranges.push(range);
  }
  return ranges;
}

/** Shows ranges the way they are configured (`1-4294967294`), for messages. */
export function formatUidRanges(ranges: readonly UidRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(",");
}

/**
 * Whether an image user (`1001`, `1001:0`, `root`, `app:app`) may run a build. An empty rule
 * allows everyone. Otherwise the user part must be numeric and inside a range; a group part,
 * when given, must be numeric too (a named group cannot be checked without the image's files).
 */
export function isUserAllowed(user: string, ranges: readonly UidRange[]): boolean {
  if (ranges.length === 0) return true;
  const [uid = "", gid, ...rest] = user.trim().split(":");
  if (rest.length > 0 || !/^\d+$/.test(uid)) return false;
  if (gid !== undefined && !/^\d+$/.test(gid)) return false;
  const n = Number(uid);
  return ranges.some((r) => n >= r.from && n <= r.to);
}
