import { describe, expect, it } from 'vitest';
import { ExpiringCache } from '../../gateway/cache.js';

describe('the replica cache is bounded, never serves past expiry, and refuses what an invalidation overtook', () => {
  it('holds at most its size, dropping the least recently written entry', () => {
    const cache = new ExpiringCache<number>(2, () => 0);
    cache.set('a', 1, 100);
    cache.set('b', 2, 100);
    cache.set('a', 3, 100); // rewriting makes it the newest
    cache.set('c', 4, 100);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([3, undefined, 4]);
    expect(cache.size).toBe(2);
  });

  it('forgets an entry at its own expiry and never stores one already expired', () => {
    let now = 0;
    const cache = new ExpiringCache<string>(10, () => now);
    cache.set('task', 'live', 1_000);
    now = 999;
    expect(cache.get('task')).toBe('live');
    now = 1_000;
    expect(cache.get('task')).toBeUndefined();
    cache.set('late', 'x', 1_000);
    expect(cache.get('late')).toBeUndefined();
  });

  it('misses everything and stores nothing while untrusted, then works again', () => {
    const cache = new ExpiringCache<string>(10, () => 0);
    cache.set('t', 'v', 100);
    cache.setTrusted(false);
    expect(cache.get('t')).toBeUndefined();
    cache.set('u', 'v', 100);
    cache.setTrusted(true);
    expect([cache.get('t'), cache.get('u')]).toEqual([undefined, undefined]);
    cache.set('u', 'v', 100);
    expect(cache.get('u')).toBe('v');
  });

  it('does not cache a value read before an invalidation that arrived during the read', () => {
    const cache = new ExpiringCache<string>(10, () => 0);
    const before = cache.generation;
    cache.delete('tsk_closed'); // a revocation notice handled while the store read was in flight
    cache.set('tsk_closed', 'stale', 100, before);
    expect(cache.get('tsk_closed')).toBeUndefined();
    const now = cache.generation;
    cache.set('tsk_closed', 'fresh', 100, now);
    expect(cache.get('tsk_closed')).toBe('fresh');
  });

  it("drops every lease of one task by prefix and nothing of another task's", () => {
    const cache = new ExpiringCache<string>(10, () => 0);
    cache.set('tsk_a:echo', '1', 100);
    cache.set('tsk_a:ledger', '2', 100);
    cache.set('tsk_ab:echo', '3', 100);
    cache.deletePrefix('tsk_a:');
    expect([cache.get('tsk_a:echo'), cache.get('tsk_a:ledger'), cache.get('tsk_ab:echo')]).toEqual([
      undefined,
      undefined,
      '3',
    ]);
  });
});
