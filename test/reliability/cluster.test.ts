import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyLayout } from '../../gateway/store/keys.js';
import { storeClientOptions } from '../../gateway/store/redis.js';
import { createRedisEventStream } from '../../gateway/store/redis-audit.js';
import { createRedisClient } from '../../gateway/store/topology.js';
import { REPO_ROOT } from './support/escrow-process.js';
import { waitFor } from './support/ports.js';
import { type ClusterSetup, startClusterSetup } from './support/topologies.js';

// The store's own client options (gateway/store/redis.ts), with a 500 ms command timeout.
const storeOptions = storeClientOptions(500);

/** The store's Lua scripts, read from gateway/store/redis.ts itself so that this test follows them. */
function storeScripts(): Record<string, string> {
  const source = readFileSync(join(REPO_ROOT, 'gateway/store/redis.ts'), 'utf8');
  return Object.fromEntries([...source.matchAll(/const ([A-Z_]+) = `([^`]*)`;/g)].map((m) => [m[1]!, m[2]!]));
}

describe('the store’s keys and scripts work on a Redis Cluster: one task’s keys share a slot', () => {
  let setup: ClusterSetup;
  let client: Cluster;
  const keys = keyLayout(`escrowtest:cluster:${randomBytes(3).toString('hex')}:`);
  const scripts = storeScripts();
  const script = (name: string) => {
    const text = scripts[name];
    if (text === undefined) throw new Error(`script ${name} is no longer in gateway/store/redis.ts: update this test`);
    return text;
  };

  beforeAll(async () => {
    setup = await startClusterSetup();
    client = createRedisClient(setup.url, storeOptions) as Cluster;
    client.on('error', () => {});
    await client.connect();
  }, 30_000);
  afterAll(async () => {
    client?.disconnect();
    await setup?.close();
  });

  it('puts every key one script touches in one slot, for any task id', async () => {
    for (let i = 0; i < 20; i++) {
      const id = `tsk_${randomBytes(8).toString('hex')}`;
      const slot = async (key: string) => Number(await client.cluster('KEYSLOT', key));
      const taskSlot = await slot(keys.task(id));
      for (const key of [keys.taskLeases(id), keys.taskChildren(id), keys.lease(id, 'echo'), keys.lease(id, 'b')]) {
        expect(await slot(key)).toBe(taskSlot);
      }
    }
  });

  it('runs the lease scripts on tasks whose keys live on different nodes', async () => {
    const ids = Array.from({ length: 12 }, () => `tsk_${randomBytes(8).toString('hex')}`);
    for (const id of ids) {
      const put = script('PUT_LEASE_IF_ABSENT');
      expect(await client.eval(put, 2, keys.lease(id, 'echo'), keys.taskLeases(id), 'sealed-1', 60_000)).toBe(1);
      expect(await client.eval(put, 2, keys.lease(id, 'echo'), keys.taskLeases(id), 'sealed-2', 60_000)).toBe(0);
      await client.eval(script('REPLACE_LEASE'), 2, keys.lease(id, 'other'), keys.taskLeases(id), 'sealed-3', 60_000);
      const deleted = (await client.eval(script('DELETE_LEASES'), 1, keys.taskLeases(id))) as string[];
      expect(deleted).toHaveLength(4); // two key/value pairs
      expect(await client.exists(keys.lease(id, 'echo'), keys.lease(id, 'other'))).toBe(0);
    }
    const owners = new Set(
      await Promise.all(ids.map(async (id) => Number(await client.cluster('KEYSLOT', keys.task(id))) >> 12)),
    );
    expect(owners.size).toBeGreaterThan(1); // the ids really spread over the slot space
  });

  it('runs the task scripts: children, close, lock', async () => {
    const parent = `tsk_${randomBytes(8).toString('hex')}`;
    await client.set(keys.task(parent), '{}', 'PX', 60_000);
    await client.eval(script('ADD_CHILD'), 1, keys.taskChildren(parent), 'tsk_child', 60_000);
    expect(await client.eval(script('DELETE_TASK'), 2, keys.task(parent), keys.taskChildren(parent))).toEqual([
      'tsk_child',
    ]);
    expect(await client.set(keys.lock('l'), 'token', 'PX', 5_000, 'NX')).toBe('OK');
    expect(await client.eval(script('RELEASE_LOCK'), 1, keys.lock('l'), 'token')).toBe(1);
  });

  it('keeps the single-key indexes and the audit stream working', async () => {
    await client.zadd(keys.tasks, Date.now() + 60_000, 'tsk_a:hash');
    await client.zadd(keys.principalTasks('hash'), Date.now() + 60_000, 'tsk_a');
    expect(await client.zrange(keys.principalTasks('hash'), 0, -1)).toEqual(['tsk_a']);
    await client.del(keys.tasks, keys.principalTasks('hash')).catch(() => {});
  });

  it('runs the audit batch script: the stream and its bookkeeping share one slot', async () => {
    const auditKeys = [keys.audit, keys.auditWriters, keys.auditActive, keys.auditMeta];
    const slots = await Promise.all(auditKeys.map(async (key) => Number(await client.cluster('KEYSLOT', key))));
    expect(new Set(slots).size).toBe(1);
    const events = createRedisEventStream(client as unknown as Redis, { keys, retentionMs: 60_000, maxLen: 1000 });
    const lines = ['{"event":"a"}', '{"event":"b"}', '{"event":"c"}'];
    await events.append({ writer: 'w', firstSeq: 0, lines: lines.slice(0, 2) });
    await events.append({ writer: 'w', firstSeq: 0, lines });
    expect(await events.readAll()).toEqual(lines);
    await client.del(...auditKeys).catch(() => {});
  });

  it('delivers revocation notices published through any node to a subscriber', async () => {
    const subscriber = createRedisClient(setup.url, { ...storeOptions, enableOfflineQueue: true }) as Cluster;
    subscriber.on('error', () => {});
    const received: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => received.push(message));
    await subscriber.connect();
    await subscriber.subscribe(keys.revocations);
    for (let i = 0; i < 3; i++) await client.publish(keys.revocations, `task:tsk_${i}`);
    await waitFor(() => received.length === 3, 5_000);
    // Published through different nodes, notices cross the cluster bus independently: order is not kept.
    expect([...received].sort()).toEqual(['task:tsk_0', 'task:tsk_1', 'task:tsk_2']);
    subscriber.disconnect();
  });
});
