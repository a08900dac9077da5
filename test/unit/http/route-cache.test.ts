import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PathOptions, STRICT_PATHS } from '../../../gateway/http/canonical.js';
import { parseRoute, queryKeys, RouteCache } from '../../../gateway/http/route.js';

/** The query names as the first implementation read them (split, decode, de-duplicate): the reference. */
function referenceKeys(query: string): string[] {
  if (query.length <= 1) return [];
  const keys = new Set<string>();
  for (const pair of query.slice(1).split('&')) {
    if (pair === '') continue;
    keys.add(decodeURIComponent((pair.split('=', 1)[0] ?? '').replaceAll('+', ' ')));
  }
  return [...keys];
}

const strict: PathOptions = { allowEncodedSlash: false };
const lenient: PathOptions = { allowEncodedSlash: true };
/** A target table as the cache sees one: the options object in force for each target name. */
const table = (options: PathOptions) => new Map([['crm', options]]);
const optionsIn = (t: Map<string, PathOptions>, name: string) => t.get(name) ?? strict;

describe('RouteCache: a URL polled again is not parsed again, and never answers with stale options', () => {
  it('answers a repeated URL with the parse it kept at its second sighting, equal to parseRoute', () => {
    const cache = new RouteCache();
    const url = '/crm/v1/items/42?fields=id,name';
    const first = cache.parse(url, table(strict), optionsIn);
    expect(first).toEqual(parseRoute(url));
    const second = cache.parse(url, table(strict), optionsIn);
    expect(second).toEqual(first);
    expect(cache.parse(url, table(strict), optionsIn)).toBe(second);
  });

  it('keeps no URL seen only once: a cache-hostile agent’s distinct URLs leave nothing behind', () => {
    const cache = new RouteCache();
    const options = table(strict);
    const once = Array.from({ length: 500 }, (_, i) => `/crm/items/${i}?q=${i}`);
    const routes = once.map((url) => cache.parse(url, options, optionsIn));
    expect(cache.size).toBe(0);
    // Seen again: kept (some share a doorkeeper slot with a later URL, and are kept at their next sighting).
    const again = once.map((url) => cache.parse(url, options, optionsIn));
    expect(again.every((route, i) => route !== routes[i])).toBe(true);
    expect(cache.size).toBeGreaterThan(400);
  });

  it('parses again once the target options changed (a reload): an encoded slash allowed, then refused', () => {
    const cache = new RouteCache();
    const url = '/crm/a%2Fb';
    expect(cache.parse(url, table(lenient), optionsIn).rest).toBe('/a%2Fb');
    // A reload gives the target a new options object: the entry kept under the old options must not answer.
    expect(() => cache.parse(url, table(strict), optionsIn)).toThrow(/encoded slash/);
  });

  it('keeps nothing it refused: an agent gets the same 400 every time', () => {
    const cache = new RouteCache();
    for (let i = 0; i < 3; i++) expect(() => cache.parse('/crm/../admin', table(strict), optionsIn)).toThrow();
  });

  it('holds at most max entries, the oldest going first', () => {
    const cache = new RouteCache(2);
    const options = table(strict);
    const twice = (url: string) => {
      cache.parse(url, options, optionsIn);
      return cache.parse(url, options, optionsIn);
    };
    const a = twice('/crm/a');
    twice('/crm/b');
    twice('/crm/c'); // /crm/a leaves
    expect(cache.parse('/crm/a', options, optionsIn)).not.toBe(a);
    expect(cache.parse('/crm/a', options, optionsIn)).toEqual(a);
  });

  it('keeps no URL that names no target, and no URL longer than 1 KiB: an agent cannot make it hold much', () => {
    const cache = new RouteCache();
    const gateway = (t: Map<string, PathOptions>, name: string) => t.get(name) ?? STRICT_PATHS; // as pathOptions does
    const unknown = '/nosuchtarget/x';
    expect(cache.parse(unknown, table(strict), gateway)).not.toBe(cache.parse(unknown, table(strict), gateway));
    const long = `/crm/${'a'.repeat(1100)}`;
    const options = table(strict);
    cache.parse(long, options, gateway);
    expect(cache.parse(long, options, gateway)).not.toBe(cache.parse(long, options, gateway));
    cache.parse('/crm/ok', options, gateway);
    expect(Object.isFrozen(cache.parse('/crm/ok', options, gateway))).toBe(true);
  });

  it('gives query names worked out once per cached route, and works them out for any other route', () => {
    const cache = new RouteCache();
    const url = '/crm/x?b=1&a=2&b=3';
    cache.parse(url, table(strict), optionsIn);
    const route = cache.parse(url, table(strict), optionsIn);
    const keys = cache.queryKeys(url, route);
    expect(keys).toEqual(['b', 'a']);
    expect(cache.queryKeys(url, route)).toBe(keys);
    expect(cache.queryKeys('/crm/y?c', parseRoute('/crm/y?c'))).toEqual(['c']);
  });
});

describe('queryKeys reads the same names as the split-and-decode reference', () => {
  const piece = fc.constantFrom('a', 'b', '=', '&', '+', '%20', '%41', '%zz', '%', 'x=1', '', '%E2%82%AC', '==');
  // With and without a tail of many names: past a handful, names are de-duplicated through a Set.
  const many = `&${Array.from({ length: 20 }, (_, i) => `n${i % 13}=1`).join('&')}`;
  it('for any mix of separators, escapes and repeats (and refuses the same malformed ones)', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.boolean(), (pieces, long) => {
        const query = `?${pieces.join('')}${long ? many : ''}`;
        let expected: string[] | 'error';
        try {
          expected = referenceKeys(query);
        } catch {
          expected = 'error';
        }
        if (expected === 'error') expect(() => queryKeys(query)).toThrow(/malformed percent-encoding/);
        else expect(queryKeys(query)).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
