import { EscrowError } from '../errors.js';

/** Per-target choices about paths (`targets[].allowEncodedSlash`). */
export interface PathOptions {
  /** Forward `%2F` inside a segment instead of refusing it (off by default). */
  readonly allowEncodedSlash: boolean;
}

export const STRICT_PATHS: PathOptions = { allowEncodedSlash: false };

const reject = (why: string): never => {
  throw new EscrowError('bad_path', why);
};

// RFC 3986 §2.3: percent-encoding these never changes what a path means, so their escapes are decoded.
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;
// What may still hide in a segment once fully decoded: separators, control characters, DEL.
const DECODED_FORBIDDEN = /[\\\x00-\x1f\x7f]/;

/** One escape in canonical form: unreserved characters decoded, the rest kept with upper-case hex. */
function canonicalEscape(hex: string, options: PathOptions): string {
  const byte = Number.parseInt(hex, 16);
  const char = String.fromCharCode(byte);
  if (UNRESERVED.test(char)) return char;
  if (byte === 0x2f && !options.allowEncodedSlash) reject('path contains an encoded slash (%2F)');
  if (byte === 0x5c) reject('path contains an encoded backslash (%5C)');
  if (byte < 0x20 || byte === 0x7f) reject('path contains an encoded control character');
  return `%${hex.toUpperCase()}`;
}

/** Decode repeatedly: `%252e%252e` is `..` to an upstream that decodes twice. NFKC folds full-width dots. */
function fullyDecoded(segment: string): string {
  let decoded = segment;
  for (let i = 0; i < 3 && decoded.includes('%'); i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      return reject('malformed percent-encoding in path'); // also overlong UTF-8 such as %c0%ae
    }
  }
  return decoded.normalize('NFKC');
}

function isDot(piece: string): boolean {
  if (piece.charCodeAt(0) !== 0x2e) return false; // most segments: no `.` first, nothing to cut
  // `..;/` (path parameters, Tomcat) climbs like `..`.
  const semicolon = piece.indexOf(';');
  const bare = semicolon === -1 ? piece : piece.slice(0, semicolon);
  return bare === '.' || bare === '..';
}

/**
 * One path segment in canonical form, or a 400. Whatever an upstream decodes it to, it must stay one segment
 * that is not a dot segment: with `%2F` allowed, every piece between encoded slashes must pass too. The segment
 * comes from a request target `parseRoute` accepted: visible ASCII only, no `\`, `#` or `/`.
 */
export function canonicalSegment(segment: string, options: PathOptions = STRICT_PATHS): string {
  if (!segment.includes('%')) {
    // Nothing encoded: parseRoute already refused every byte but visible ASCII (and `\`), so only a raw dot
    // segment can be wrong here. The common case, kept cheap.
    if (isDot(segment)) reject('path contains a dot segment');
    return segment;
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(segment)) reject('malformed percent-encoding in path');
  const canonical = segment.replace(ESCAPE, (_, hex: string) => canonicalEscape(hex, options));
  const decoded = fullyDecoded(canonical);
  if (DECODED_FORBIDDEN.test(decoded)) reject('path contains an encoded separator or control character');
  if (decoded.includes('/') && !options.allowEncodedSlash) reject('path contains an encoded slash');
  if (decoded.split('/').some(isDot)) reject('path contains a dot segment');
  return canonical;
}
