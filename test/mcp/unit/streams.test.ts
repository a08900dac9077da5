import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LiveStreams } from '../../../gateway/mcp/streams.js';

class FakeResponse extends EventEmitter {
  destroyed = false;
  destroy() {
    this.destroyed = true;
    this.emit('close');
  }
}

describe('LiveStreams', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('cuts the responses of a task named by a revocation notice, and only those', () => {
    const cuts: string[] = [];
    const streams = new LiveStreams(Date.now, (reason) => cuts.push(reason));
    const [a, b, c] = [new FakeResponse(), new FakeResponse(), new FakeResponse()];
    streams.add('tsk_a', a, undefined);
    streams.add('tsk_a', b, undefined);
    streams.add('tsk_b', c, undefined);
    streams.onNotice('lease:tsk_a:docs');
    expect(a.destroyed).toBe(false);
    streams.onNotice('task:tsk_a');
    expect([a.destroyed, b.destroyed, c.destroyed]).toEqual([true, true, false]);
    expect(cuts).toEqual(['task_closed', 'task_closed']);
    streams.onNotice('*');
    expect(c.destroyed).toBe(true);
    expect(streams.count()).toBe(0);
  });

  it('cuts a response when its task expires, and forgets one that ended by itself', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const cuts: string[] = [];
    const streams = new LiveStreams(Date.now, (reason) => cuts.push(reason));
    const [live, ended] = [new FakeResponse(), new FakeResponse()];
    streams.add('tsk_a', live, 1_000_000 + 5_000);
    streams.add('tsk_a', ended, 1_000_000 + 5_000);
    ended.emit('close');
    expect(streams.count('tsk_a')).toBe(1);
    vi.advanceTimersByTime(4_999);
    expect(live.destroyed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(live.destroyed).toBe(true);
    expect(cuts).toEqual(['task_expired']);
    expect(vi.getTimerCount()).toBe(0);
  });
});
