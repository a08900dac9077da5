import { EscrowError } from '../errors.js';

/** A request target split into Escrow's parts. `rest` and `query` are forwarded byte for byte. */
export interface Route {
  /** First path segment: a target name, or `_escrow` for Escrow's own API. */
  readonly target: string;
  /** The rest of the path, starting with `/` (`/` when empty). */
  readonly rest: string;
  /** The raw query including `?`, or the empty string. */
  readonly query: string;
}

const reject = (why: string): never => {
  throw new EscrowError('bad_path', why);
};

// Visible ASCII only; `#` (fragments never reach a server legitimately) and `\` are refused outright.
const FORBIDDEN_RAW = /[^\x21-\x7e]|[#\\]/;
// Encoded separators and NUL: `%2f`, `%5c`, `%00` would let an upstream see a different path than policy did.
const FORBIDDEN_ENCODED = /%(2f|5c|00)/i;

function decodeSegment(segment: string): string {
  let decoded = segment;
  // Decode repeatedly: `%252e%252e` is `..` to an upstream that decodes twice.
  for (let i = 0; i < 3 && decoded.includes('%'); i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      return reject('malformed percent-encoding in path'); // also overlong UTF-8 such as %c0%ae
    }
  }
  return decoded.normalize('NFKC'); // full-width dots (U+FF0E) become `.`
}

function isDotSegment(segment: string): boolean {
  const decoded = decodeSegment(segment);
  // `..;/` (path parameters, Tomcat) and `..` both climb; so do variants with encoded separators.
  const bare = decoded.split(';', 1)[0] ?? '';
  return bare === '.' || bare === '..' || /[\\/]/.test(decoded) || decoded.includes('\0');
}

/**
 * Parse an origin-form request target (`/<target>/<rest>?<query>`), rejecting anything that could make the
 * upstream see a different path than the policy: absolute-form, `*`, `//host`, dot segments (raw or encoded,
 * any number of times), encoded `/` `\` NUL, backslashes, fragments, control and non-ASCII bytes, empty segments.
 */
export function parseRoute(rawUrl: string): Route {
  if (!rawUrl.startsWith('/')) reject('request target must be origin-form (/<target>/<path>)');
  if (rawUrl.startsWith('//')) reject('request target must not start with //');
  if (FORBIDDEN_RAW.test(rawUrl)) reject('request target contains a forbidden character');
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = q === -1 ? '' : rawUrl.slice(q);
  if (FORBIDDEN_ENCODED.test(path)) reject('path contains an encoded separator or NUL');
  const segments = path.slice(1).split('/');
  const target = segments[0] ?? '';
  if (target === '') reject('path must name a target');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    // An empty segment is allowed only as a trailing slash.
    if (segment === '' && i !== segments.length - 1) reject('path contains an empty segment');
    if (segment !== '' && isDotSegment(segment)) reject('path contains a dot segment');
  }
  if (segments.length > 1 && segments[1] === '' && segments.length === 2) return { target, rest: '/', query };
  const rest = segments.length === 1 ? '/' : `/${segments.slice(1).join('/')}`;
  return { target, rest, query };
}

/** The query parameter names (decoded), for the policy context. Never the values. */
export function queryKeys(query: string): string[] {
  if (query.length <= 1) return [];
  const keys = new Set<string>();
  for (const pair of query.slice(1).split('&')) {
    if (pair === '') continue;
    const name = pair.split('=', 1)[0]!;
    try {
      keys.add(decodeURIComponent(name.replaceAll('+', ' ')));
    } catch {
      reject('malformed percent-encoding in query');
    }
  }
  return [...keys];
}
