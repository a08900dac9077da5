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

  it('never cuts a connection that already ended', () => {
    const seen: string[] = [];
    const unbind = live.register('tsk_a', now + 100, live.seq, () => seen.push('cut'));
    unbind();
    later(200);
    live.cutTask('tsk_a', 'task_closed');
    expect(seen).toEqual([]);
  });
});
