import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyLayout } from '../../gateway/store/keys.js';
import { createRedisStore, storeClientOptions } from '../../gateway/store/redis.js';
import { createRedisEventStream } from '../../gateway/store/redis-audit.js';
import { createRedisClient } from '../../gateway/store/topology.js';
import { waitFor } from './support/ports.js';
import { type ClusterSetup, startClusterSetup } from './support/topologies.js';

// The store's own client options (gateway/store/redis.ts), with a 500 ms command timeout.
const storeOptions = storeClientOptions(500);

describe('the store’s keys and scripts work on a Redis Cluster: one task’s keys share a slot', () => {
  let setup: ClusterSetup;
  let client: Cluster;
  const prefix = `escrowtest:cluster:${randomBytes(3).toString('hex')}:`;
  const keys = keyLayout(prefix);
  const clusterStore = () => createRedisStore({ url: setup.url, prefix, timeoutMs: 2_000 });

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
      const taskKeys = [keys.taskClosed(id), keys.taskLeases(id), keys.taskRevoking(id), keys.taskChildren(id)];
      for (const key of [...taskKeys, keys.lease(id, 'echo'), keys.lease(id, 'b')]) {
        expect(await slot(key)).toBe(taskSlot);
      }
    }
  });

  it('runs the store’s lease scripts on tasks whose keys live on different nodes', async () => {
    const store = await clusterStore();
    try {
      const ids = Array.from({ length: 12 }, () => `tsk_${randomBytes(8).toString('hex')}`);
      for (const id of ids) {
        await store.tasks.put(id, '{}', 60_000);
        expect(await store.leases.putIfAbsent(id, 'echo', 'sealed-1', 60_000)).toBe('written');
        expect(await store.leases.putIfAbsent(id, 'echo', 'sealed-2', 60_000)).toBe('exists');
        expect(await store.leases.replace(id, 'other', 'sealed-3', 60_000)).toBe('written');
        const taken = await store.leases.take(id, { claim: 'c', nowMs: Date.now(), staleAfterMs: 1, retainMs: 60_000 });
        expect(taken.map((t) => t.value).sort()).toEqual(['sealed-1', 'sealed-3']);
        expect(
          await store.leases.settle(
            id,
            taken.map((t) => t.ref),
          ),
        ).toBe(0);
        expect(await client.exists(keys.lease(id, 'echo'), keys.lease(id, 'other'))).toBe(0);
      }
      const owners = new Set(
        await Promise.all(ids.map(async (id) => Number(await client.cluster('KEYSLOT', keys.task(id))) >> 12)),
      );
      expect(owners.size).toBeGreaterThan(1); // the ids really spread over the slot space
    } finally {
      await store.close();
    }
  });

  it('runs the store’s task scripts: children, close with its tombstone, fenced leases, limits, locks', async () => {
    const store = await clusterStore();
    try {
      const parent = `tsk_${randomBytes(8).toString('hex')}`;
      await store.tasks.put(parent, '{}', 60_000);
      await store.tasks.put('tsk_child', '{}', 60_000, parent);
      expect(await store.tasks.close(parent, 'closed', 60_000)).toEqual({
        entry: { record: '{}', tombstone: 'closed' },
        children: ['tsk_child'],
      });
      expect(await store.leases.putIfAbsent(parent, 'echo', 'late', 60_000)).toBe('closed');
      expect(await store.tasks.delete(parent)).toEqual(['tsk_child']);
      expect(await store.index.reserve('tsk_a', 'hash', Date.now() + 60_000, Date.now(), 1)).toBe(true);
      expect(await store.index.reserve('tsk_b', 'hash', Date.now() + 60_000, Date.now(), 1)).toBe(false);
      expect(await store.locks.acquire('l', 'token', 5_000)).toBe(true);
      await store.locks.release('l', 'token');
      expect(await store.locks.acquire('l', 'other', 5_000)).toBe(true);
      await store.closing.schedule('tsk_a:admin:-', Date.now());
      expect(await store.closing.due(Date.now(), 10)).toEqual(['tsk_a:admin:-']);
    } finally {
      await store.close();
    }
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
