import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CutReason, LiveConnections } from '../../gateway/connections.js';

/** The registry behind the live cuts (gateway/connections.ts), on a fake clock: each rule on its own. */
describe('the live-connection registry cuts what its task’s close, expiry or a race demands, and nothing else', () => {
  let now = 1_000_000;
  let cuts: CutReason[];
  let live: LiveConnections;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_000_000;
    cuts = [];
    live = new LiveConnections(
      () => now,
      (reason) => cuts.push(reason),
    );
  });
  afterEach(() => vi.useRealTimers());

  const later = (ms: number) => {
    now += ms;
    vi.advanceTimersByTime(ms);
  };

  it('cuts every connection of a closed task, and only that task’s', () => {
    const seen: string[] = [];
    live.register('tsk_a', now + 60_000, live.seq, (r) => seen.push(`a1:${r}`));
    live.register('tsk_a', now + 60_000, live.seq, (r) => seen.push(`a2:${r}`));
    live.register('tsk_b', now + 60_000, live.seq, (r) => seen.push(`b:${r}`));
    live.cutTask('tsk_a', 'task_closed');
    expect(seen).toEqual(['a1:task_closed', 'a2:task_closed']);
    expect(live.size).toBe(1);
    live.cutAll('revoked');
    expect(seen.at(-1)).toBe('b:revoked');
    expect(cuts).toEqual(['task_closed', 'task_closed', 'revoked']);
  });

  it('cuts at once a connection whose admission read its task before a close notice arrived', () => {
    const seq = live.seq; // the admission reads its task…
    live.cutTask('tsk_a', 'task_closed'); // …the close notice arrives…
    const seen: CutReason[] = [];
    live.register('tsk_a', now + 60_000, seq, (r) => seen.push(r)); // …then it binds
    expect(seen).toEqual(['task_closed']);
    live.register('tsk_a', now + 60_000, live.seq, (r) => seen.push(r)); // a later admission is a new task's
    expect(seen).toEqual(['task_closed']);
  });

  it('cuts each connection at its own expiry with one timer per task, never before', () => {
    const seen: string[] = [];
    live.register('tsk_a', now + 200, live.seq, () => seen.push('short'));
    live.register('tsk_a', now + 500, live.seq, () => seen.push('long'));
    later(199);
    expect(seen).toEqual([]);
    later(1);
    expect(seen).toEqual(['short']);
    later(299);
    expect(seen).toEqual(['short']);
    later(1);
    expect(seen).toEqual(['short', 'long']);
    expect(cuts).toEqual(['expired', 'expired']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('behaves as a plain set of connections under any mix of binds, unbinds, closes and expiries', () => {
    type Op =
      | { kind: 'bind'; task: number; ttl: number }
      | { kind: 'unbind'; pick: number }
      | { kind: 'close'; task: number }
      | { kind: 'wait'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('bind' as const), task: fc.nat(2), ttl: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('unbind' as const), pick: fc.nat(20) }),
      fc.record({ kind: fc.constant('close' as const), task: fc.nat(2) }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 30 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const registry = new LiveConnections(() => now);
        // The model: each connection's task, expiry and whether it is still bound, in the order bound.
        const model: { task: string; expiresAt: number; bound: boolean; unbind: () => void }[] = [];
        const seen: number[] = [];
        const expected: number[] = [];
        for (const o of ops) {
          if (o.kind === 'bind') {
            const id = model.length;
            const task = `tsk_${o.task}`;
            const unbind = registry.register(task, now + o.ttl, registry.seq, () => seen.push(id));
            model.push({ task, expiresAt: now + o.ttl, bound: true, unbind });
          } else if (o.kind === 'unbind') {
            const c = model[o.pick % Math.max(1, model.length)];
            if (c === undefined) continue;
            c.unbind();
            c.bound = false;
          } else if (o.kind === 'close') {
            for (const [id, c] of model.entries()) {
              if (c.bound && c.task === `tsk_${o.task}`) {
                expected.push(id);
                c.bound = false;
              }
            }
            registry.cutTask(`tsk_${o.task}`, 'task_closed');
          } else {
            const until = now + o.ms;
            for (const [id, c] of model.entries()) {
              if (c.bound && c.expiresAt <= until) {
                expected.push(id);
                c.bound = false;
              }
            }
            later(o.ms);
          }
          // The same connections cut, each once, in the order they were bound per step; the same left bound.
          expect([...seen].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
          for (const task of ['tsk_0', 'tsk_1', 'tsk_2']) {
            expect(registry.countFor(task)).toBe(model.filter((c) => c.bound && c.task === task).length);
          }
        }
        registry.cutAll('revoked');
        vi.clearAllTimers();
      }),
      { numRuns: 300 },
    );
  });

  it('never cuts a connection that already ended', () => {
    const seen: string[] = [];
    const unbind = live.register('tsk_a', now + 100, live.seq, () => seen.push('cut'));
    unbind();
    later(200);
    live.cutTask('tsk_a', 'task_closed');
    expect(seen).toEqual([]);
  });
});

/**
 * A registry that churns (a bind and an unbind per request) must not keep what a removed entry reaches: a Set's
 * obsolete hash tables sit in old space still pointing at removed entries, and the scavenger treats them as live
 * until the next full GC, so each ended request (its whole graph, through `cut`) would be promoted to old space.
 * Measured as the old space's growth over two scavenges (gc({ type: 'minor' })): 5 MB of 8 MB without the fix.
 */
describe('the live-connection registry lets an ended request go at the next scavenge', () => {
  it('keeps nothing an unbound connection’s cut reaches', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options?: { type: 'major' | 'minor' }) => void;
    const live = new LiveConnections();
    live.register('tsk_a', Date.now() + 60_000, live.seq, () => {})(); // the task's group exists…
    gc();
    gc(); // …and is old
    const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
    const before = oldSpace();
    const bound: (() => void)[] = [];
    for (let i = 0; i < 1000; i++) {
      const request = new Array<number>(1000).fill(i); // 8 KB each: 8 MB in all
      bound.push(live.register('tsk_a', Date.now() + 60_000, live.seq, () => request.length));
      if (bound.length > 3) bound.shift()!(); // a few in flight at a time, as under load
    }
    gc({ type: 'minor' });
    gc({ type: 'minor' }); // what survives two scavenges is promoted
    expect(oldSpace() - before).toBeLessThan(2 * 2 ** 20);
  });

  it('does not call the cut of a connection unbound while its task is being cut', () => {
    const live = new LiveConnections();
    const seen: string[] = [];
    let second: () => void = () => {};
    live.register('tsk_a', Date.now() + 60_000, live.seq, () => {
      seen.push('first');
      second(); // the first cut ends the second connection (one agent, two streams)
    });
    second = live.register('tsk_a', Date.now() + 60_000, live.seq, () => seen.push('second'));
    live.cutTask('tsk_a', 'task_closed');
    expect(seen).toEqual(['first']);
  });
});
