import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../../support/redis.js';
import type { FaultAction, FaultRule } from '../../support/resp-proxy.js';

/**
 * The store commands of one close, in order: the task API reading the task (`lookup`), then the close itself
 * (gateway/leases/closing.ts), and the two after its 204 (`settle`, `done`).
 */
export const CLOSE_STEPS = ['lookup', 'outbox', 'tombstone', 'take', 'index', 'settle', 'done'] as const;
export type CloseStep = (typeof CLOSE_STEPS)[number];

/**
 * The fault rule that hits `step` of closing `task` (and no other task's commands). EVAL's arguments are
 * `[EVAL, script, numkeys, key1, key2, …, argv…]`.
 */
export function stepRule(prefix: string, task: string, step: CloseStep, action: FaultAction): FaultRule {
  const taskKey = `${prefix}task:{${task}}`;
  const rule = { action, delayMs: 700 };
  switch (step) {
    case 'lookup':
      return { ...rule, command: 'MGET', match: (a) => a[1] === taskKey && a[2] === `${taskKey}:closed` };
    case 'outbox':
      return { ...rule, command: 'ZADD', match: (a) => a[1] === `${prefix}closing` && !!a[3]?.startsWith(`${task}:`) };
    case 'tombstone':
      return {
        ...rule,
        command: 'EVAL',
        match: (a) => a[2] === '3' && a[3] === taskKey && a[4] === `${taskKey}:closed`,
      };
    case 'take':
      return { ...rule, command: 'EVAL', match: (a) => a[2] === '2' && a[3] === `${taskKey}:leases` };
    case 'index':
      return { ...rule, command: 'ZREM', match: (a) => a[1] === `${prefix}tasks` && !!a[2]?.startsWith(`${task}:`) };
    case 'settle':
      return { ...rule, command: 'EVAL', match: (a) => a[2] === '1' && a[3] === `${taskKey}:revoking` };
    case 'done':
      return { ...rule, command: 'ZREM', match: (a) => a[1] === `${prefix}closing` && !!a[2]?.startsWith(`${task}:`) };
    default: {
      const never: never = step;
      throw new Error(`unknown step ${String(never)}`);
    }
  }
}

/** What a finished close must not leave behind in Redis: leases, leases awaiting revocation, index, outbox. */
export async function leftovers(prefix: string, task: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    const left = await redis.keys(`${prefix}lease:{${task}}:*`);
    for (const key of [`${prefix}task:{${task}}:leases`, `${prefix}task:{${task}}:revoking`]) {
      if (await redis.exists(key)) left.push(key);
    }
    const members = [
      ...(await redis.zrange(`${prefix}tasks`, 0, -1)),
      ...(await redis.zrange(`${prefix}closing`, 0, -1)),
    ];
    left.push(...members.filter((m) => m.startsWith(`${task}:`)));
    if ((await redis.get(`${prefix}task:{${task}}:closed`)) === null) left.push('(no tombstone)');
    return left;
  } finally {
    redis.disconnect();
  }
}

/**
 * Call `probe` on each replica (each in its own loop, so a slow answer from one does not delay noticing the
 * other) until every one answers `want`; resolves with `performance.now()` when the last one did.
 */
export async function untilEvery(
  replicas: readonly string[],
  probe: (url: string) => Promise<number>,
  want: number,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const times = await Promise.all(
    replicas.map(async (url) => {
      while ((await probe(url)) !== want) {
        if (performance.now() > deadline) throw new Error(`${url} did not answer ${want} within ${timeoutMs} ms`);
      }
      return performance.now();
    }),
  );
  return Math.max(...times);
}
