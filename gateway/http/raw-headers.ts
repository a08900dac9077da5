/** The answer for a header that is absent: shared, never written. */
const NONE: readonly string[] = Object.freeze([]);

/**
 * Whether raw header name `raw` is `lower` (a lower-case token of letters, digits and `-`) in any case. No string is
 * made: most requests send each name in one case, and `toLowerCase` would copy every name that has a capital.
 */
function sameName(raw: string, lower: string): boolean {
  if (raw.length !== lower.length) return false;
  for (let i = 0; i < raw.length; i++) {
    const want = lower.charCodeAt(i);
    const got = raw.charCodeAt(i);
    // Only a letter has a capital (`-` | 0x20 is `-`, but so is CR | 0x20: compare anything else exactly).
    if (got !== want && !(want >= 0x61 && want <= 0x7a && (got | 0x20) === want)) return false;
  }
  return true;
}

/**
 * Every value of header `name` (lower case) in a request's raw headers (`req.rawHeaders`: name, value, name, value,
 * … as received), in order. What `req.headersDistinct[name]` gives, without Node building that object (an array
 * per header) for the few names Escrow asks about; an array is made only for a header that is present.
 */
export function headerValues(raw: readonly string[], name: string): readonly string[] {
  let values: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (!sameName(raw[i]!, name)) continue;
    values ??= [];
    values.push(raw[i + 1]!);
  }
  return values ?? NONE;
}

/** How many times header `name` (lower case) appears in a request's raw headers. */
export function headerCount(raw: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (sameName(raw[i]!, name)) n++;
  return n;
}
