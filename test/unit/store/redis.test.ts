import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EscrowError } from '../../../gateway/errors.js';
import { keyLayout } from '../../../gateway/store/keys.js';
import { createRedisStore } from '../../../gateway/store/redis.js';
import type { Store } from '../../../gateway/store/types.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../../support/redis.js';
import { killSubscriber, startFreezableProxy, until } from './helpers.js';

/** CRC16/XMODEM, as Redis Cluster uses for key slots. */
function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Redis Cluster slot of a key: only the part inside the first non-empty `{…}` counts. */
function slot(key: string): number {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const tag = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(tag) % 16_384;
}

describe('one task keeps all its keys in one Redis Cluster slot', () => {
  it('puts the task record, its lease set, its child set and its leases in the same slot', () => {
    expect(slot('123456789')).toBe(12_739); // the reference value from the Redis Cluster spec
    const keys = keyLayout('escrow:');
    const task = 'tsk_AbCdEfGhIjKlMnOpQrStUv';
    const slots = new Set([
      slot(keys.task(task)),
      slot(keys.taskLeases(task)),
      slot(keys.taskChildren(task)),
      slot(keys.lease(task, 'echo')),
      slot(keys.lease(task, 'ledger')),
      slot(keys.lock(`lease:{${task}}:echo`)),
    ]);
    expect(slots.size).toBe(1);
    expect(slot(keys.task('tsk_zzzzzzzzzzzzzzzzzzzzzz'))).not.toBe([...slots][0]);
  });
});

describe('the Redis store fails closed when Redis cannot be reached', () => {
  it('refuses to start with store_unavailable', async () => {
    const error = await createRedisStore({ url: 'redis://127.0.0.1:1/0', prefix: 'x:', timeoutMs: 200 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EscrowError);
    expect((error as EscrowError).code).toBe('store_unavailable');
  });
});

describe('the revocation subscription reports itself down and up again', () => {
  const prefix = testPrefix('store-sub');
  let store: Store;
  const states: boolean[] = [];
  const seen: string[] = [];

  beforeAll(async () => {
    store = await createRedisStore({ url: REDIS_URL, prefix, timeoutMs: 500, healthCheckMs: 200 });
    await store.revocations.subscribe(
      (m) => seen.push(m),
      (s) => states.push(s),
    );
    await until(() => states.at(-1) === true);
  });
  afterAll(async () => {
    await store?.close();
    await deletePrefix(prefix);
  });

  it('reports down when its connection is killed, then up once resubscribed, and receives notices again', async () => {
    const before = states.length;
    await killSubscriber(prefix);
    await expect.poll(() => states.slice(before)).toEqual([false, true]);
    await store.revocations.publish('task:after-reconnect');
    await expect.poll(() => seen).toContain('task:after-reconnect');
  });

  it('reports down when its pings go unanswered on a connection that never closes, then recovers', async () => {
    const proxy = await startFreezableProxy();
    const quiet = await createRedisStore({ url: proxy.url, prefix, timeoutMs: 300, healthCheckMs: 100 });
    const changes: boolean[] = [];
    try {
      await quiet.revocations.subscribe(
        () => {},
        (s) => changes.push(s),
      );
      await expect.poll(() => changes).toEqual([true]);
      proxy.freeze();
      await expect.poll(() => changes, { timeout: 5_000 }).toEqual([true, false, true]);
    } finally {
      await quiet.close();
      await proxy.close();
    }
  });
});

describe('the audit append survives Redis forgetting its script (SCRIPT FLUSH, a restart, a failover)', () => {
  const prefix = testPrefix('store-noscript');
  let store: Store;
  beforeAll(async () => {
    store = await createRedisStore({ url: REDIS_URL, prefix, timeoutMs: 2_000 });
  });
  afterAll(async () => {
    await store?.close();
    await deletePrefix(prefix);
  });

  it('sends the script again on NOSCRIPT, so the next batch lands in order after the first', async () => {
    await store.events.append({ writer: 'w1', firstSeq: 0, lines: ['{"seq":0}'] });
    const admin = new Redis(REDIS_URL);
    try {
      await admin.script('FLUSH');
    } finally {
      admin.disconnect();
    }
    await store.events.append({ writer: 'w1', firstSeq: 1, lines: ['{"seq":1}'] });
    expect(await store.events.readAll()).toEqual(['{"seq":0}', '{"seq":1}']);
  });
});
