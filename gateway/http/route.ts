import { EscrowError } from '../errors.js';
import { canonicalSegment, type PathOptions, STRICT_PATHS } from './canonical.js';

/** A request target split into Escrow's parts. `rest` is canonical (http/canonical.ts); `query` is raw. */
export interface Route {
  /** First path segment: a target name, or `_escrow` for Escrow's own API. */
  readonly target: string;
  /**
   * The rest of the path, starting with `/` (`/` when empty), in canonical form: exactly what policy sees and
   * what the upstream gets under its base path.
   */
  readonly rest: string;
  /** The raw query including `?`, or the empty string. */
  readonly query: string;
}

const reject = (why: string): never => {
  throw new EscrowError('bad_path', why);
};

// Visible ASCII only; `#` (fragments never reach a server legitimately) and `\` are refused outright.
const FORBIDDEN_RAW = /[^\x21-\x7e]|[#\\]/;

/**
 * Parse an origin-form request target (`/<target>/<rest>?<query>`), rejecting anything that could make the
 * upstream see a different path than the policy: absolute-form, `*`, `//host`, dot segments (raw or encoded,
 * any number of times), encoded `\` and control characters, encoded `/` (unless the target allows it),
 * backslashes, fragments, control and non-ASCII bytes, empty segments. Percent-encoded unreserved characters
 * are decoded (`/%61dmin` is `/admin`), so a policy on `/admin*` cannot be bypassed by encoding.
 */
export function parseRoute(rawUrl: string, optionsFor: (target: string) => PathOptions = () => STRICT_PATHS): Route {
  if (!rawUrl.startsWith('/')) reject('request target must be origin-form (/<target>/<path>)');
  if (rawUrl.startsWith('//')) reject('request target must not start with //');
  if (FORBIDDEN_RAW.test(rawUrl)) reject('request target contains a forbidden character');
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = q === -1 ? '' : rawUrl.slice(q);
  const segments = path.slice(1).split('/');
  const target = segments[0] ?? '';
  if (target === '') reject('path must name a target');
  canonicalSegment(target);
  const options = optionsFor(target);
  const rest: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    // An empty segment is allowed only as a trailing slash.
    if (segment === '' && i !== segments.length - 1) reject('path contains an empty segment');
    rest.push(segment === '' ? '' : canonicalSegment(segment, options));
  }
  return { target, rest: `/${rest.join('/')}`, query };
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
