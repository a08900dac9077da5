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
  const keys: string[] = [];
  // A handful of names: a scan beats a Set. Past that, a Set (an agent's thousands of names stay linear).
  let seen: Set<string> | undefined;
  let at = 1;
  while (at <= query.length) {
    let end = query.indexOf('&', at);
    if (end === -1) end = query.length;
    if (end > at) {
      const eq = query.indexOf('=', at);
      const key = decodeQueryName(query.slice(at, eq === -1 || eq > end ? end : eq));
      if (seen === undefined && keys.length >= SCAN_MAX) seen = new Set(keys);
      if (seen ? !seen.has(key) : !keys.includes(key)) {
        keys.push(key);
        seen?.add(key);
      }
    }
    at = end + 1;
  }
  return keys;
}

const SCAN_MAX = 8;

function decodeQueryName(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return reject('malformed percent-encoding in query');
  }
}

/** URLs longer than this are parsed every time (a polled URL is short; a long one is an agent's choice). */
const MAX_URL = 1024;

/** A parsed request target, with what policy reads of its query once it was asked for (`RouteCache.queryKeys`). */
interface CachedRoute {
  readonly route: Route;
  /** The options it was parsed with: a reload that changes the target's options makes the entry stale. */
  readonly options: PathOptions;
  keys: readonly string[] | undefined;
}

/** Hashes of URLs seen once (RouteCache's doorkeeper); a power of two. */
const SEEN_SLOTS = 4096;

/**
 * FNV-1a over the URL's UTF-16 code units, then murmur3's finaliser (FNV's low bits, the slot, barely differ between
 * URLs that differ only in their last characters): a slot and a tag for the doorkeeper, not a secure hash.
 */
function urlHash(url: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Parsed request targets by raw URL, so an agent that polls the same URL is parsed once: the parse is a pure
 * function of the URL and the target's path options, and an entry is used only while the options it was parsed
 * with are the ones in force (a reload replaces the target's config object). Kept only: URLs that parsed, name a
 * target (their options are a target's, not the strict defaults every other name gets) and are at most
 * `MAX_URL` long, so what anyone can make it hold is bounded (`max` × `MAX_URL`); the oldest entry goes first.
 * Entries are frozen: every request that hits one shares it.
 *
 * A URL is kept the second time it is seen, not the first (a doorkeeper, as in TinyLFU: a table of hashes of URLs
 * seen once, which allocates nothing). A URL that never comes back (every request of a cache-hostile agent) would
 * otherwise be an entry that lives through `max` other requests, long enough to be promoted to old space and left
 * for a full GC; a polled URL is kept from its second request on. A hash collision only keeps a URL one sighting
 * early.
 */
export class RouteCache {
  readonly #entries = new Map<string, CachedRoute>();
  readonly #max: number;
  readonly #seen = new Int32Array(SEEN_SLOTS);

  constructor(max = 1024) {
    this.#max = max;
  }

  /** `parseRoute(rawUrl)` with the options `optionsFor(source, target)` gives (no closure per request). */
  parse<S>(rawUrl: string, source: S, optionsFor: (source: S, target: string) => PathOptions): Route {
    const cached = this.#entries.get(rawUrl);
    if (cached !== undefined && cached.options === optionsFor(source, cached.route.target)) return cached.route;
    let options: PathOptions = STRICT_PATHS;
    const route = parseRoute(rawUrl, (target) => {
      options = optionsFor(source, target);
      return options;
    });
    if (options === STRICT_PATHS || rawUrl.length > MAX_URL) return route;
    if (cached === undefined && !this.#seenBefore(rawUrl)) return route;
    if (cached === undefined && this.#entries.size >= this.#max) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(rawUrl, { route: Object.freeze(route), options, keys: undefined });
    return route;
  }

  /** Routes kept (for tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether `url` was seen since its slot last changed hands; notes it as seen. */
  #seenBefore(url: string): boolean {
    const hash = urlHash(url);
    const slot = hash & (SEEN_SLOTS - 1);
    if (this.#seen[slot] === hash) return true;
    this.#seen[slot] = hash;
    return false;
  }

  /** `queryKeys(route.query)`, worked out once for a route this cache returned. */
  queryKeys(rawUrl: string, route: Route): readonly string[] {
    const cached = this.#entries.get(rawUrl);
    if (cached === undefined || cached.route !== route) return queryKeys(route.query);
    cached.keys ??= Object.freeze(queryKeys(route.query));
    return cached.keys;
  }
}
