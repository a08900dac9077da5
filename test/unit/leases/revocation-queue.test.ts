import { describe, expect, it } from 'vitest';
import { RevocationQueue } from '../../../gateway/leases/revocation-queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the upstream revocation queue is bounded, concurrent up to a limit, and retries with backoff', () => {
  it('runs at most `concurrency` jobs at once and finishes them all', async () => {
    const queue = new RevocationQueue({ concurrency: 3 });
    let running = 0;
    let most = 0;
    let done = 0;
    for (let i = 0; i < 30; i++) {
      queue.push({
        describe: `job ${i}`,
        async run() {
          most = Math.max(most, ++running);
          await sleep(5);
          running--;
          done++;
        },
      });
    }
    await queue.drain();
    expect([done, most, queue.pending]).toEqual([30, 3, 0]);
  });

  it('retries a failing job with growing delays, then gives up and reports it', async () => {
    const given: string[] = [];
    const queue = new RevocationQueue({ attempts: 4, baseDelayMs: 20, onGiveUp: (job) => given.push(job.describe) });
    const at: number[] = [];
    queue.push({
      describe: 'always fails',
      async run() {
        at.push(Date.now());
        throw new Error('upstream down');
      },
    });
    await queue.drain();
    expect(at).toHaveLength(4);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // 20, 40, 80 ms ±20 % jitter (and timer slack)
    expect(gaps[0]!).toBeGreaterThanOrEqual(15);
    expect(gaps[1]!).toBeGreaterThanOrEqual(31);
    expect(gaps[2]!).toBeGreaterThanOrEqual(63);
    expect(given).toEqual(['always fails']);
  });

  it('refuses jobs beyond its capacity, counting delayed and retrying ones', async () => {
    const queue = new RevocationQueue({ concurrency: 1, maxQueued: 3 });
    const slow = { describe: 'slow', run: async () => void (await sleep(30)) };
    expect([queue.push(slow), queue.push(slow, 50), queue.push(slow)]).toEqual([true, true, true]);
    expect(queue.push(slow)).toBe(false);
    expect(queue.capacity).toBe(3);
    await queue.drain();
    expect(queue.push(slow)).toBe(true);
    await queue.drain();
  });

  it('starts a delayed job no earlier than its delay', async () => {
    const queue = new RevocationQueue();
    const pushedAt = Date.now();
    let ranAt = 0;
    const run = async () => {
      ranAt = Date.now();
    };
    queue.push({ describe: 'renewed', run }, 60);
    await queue.drain();
    expect(ranAt - pushedAt).toBeGreaterThanOrEqual(55);
  });
});
