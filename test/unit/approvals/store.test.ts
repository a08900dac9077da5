import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryApprovalStore } from '../../../gateway/approvals/memory-store.js';
import { createRedisApprovalStore } from '../../../gateway/approvals/redis-store.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../../support/redis.js';
import { runApprovalStoreContract, subject } from './store-contract.js';

runApprovalStoreContract('Redis', async () => {
  const prefix = testPrefix('approvals');
  const client = new Redis(REDIS_URL);
  return {
    store: createRedisApprovalStore(client, prefix),
    async cleanup() {
      client.disconnect();
      await deletePrefix(prefix);
    },
  };
});

runApprovalStoreContract('memory', async () => ({ store: createMemoryApprovalStore(), cleanup: async () => {} }));

describe('approval steps hold under concurrency on Redis (one atomic script per step)', () => {
  const prefix = testPrefix('approvals-race');
  const clients = Array.from({ length: 4 }, () => new Redis(REDIS_URL));
  const stores = clients.map((c) => createRedisApprovalStore(c, prefix));
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await deletePrefix(prefix);
  });

  it('takes exactly `uses` requests from a grant raced by 40 requests over 4 connections', async () => {
    const s = subject({ uses: 3 });
    const [first] = stores;
    await first!.records.put(s, 'k', 600_000);
    await first!.transitions.claim(s.id, 'c', s.requestedAt, s.requestedAt + 30_000);
    await first!.transitions.commit(
      s.id,
      'c',
      { outcome: 'approved', by: { type: 'Human', id: 'h', issuer: 'i' }, at: s.requestedAt, decisionId: 'd' },
      { uses: 3, validUntil: s.requestedAt + 600_000 },
      600_000,
    );
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => stores[i % 4]!.transitions.consume(s.id, 'k', s.requestedAt + 1)),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(3);
    expect(results.filter((r) => r === 'spent')).toHaveLength(37);
  });

  it('lets exactly one of 20 racing deciders claim, and bounds 50 racing requests of one requester at 10', async () => {
    const s = subject();
    await stores[0]!.records.put(s, 'k', 600_000);
    const claims = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stores[i % 4]!.transitions.claim(s.id, `d${i}`, s.requestedAt, s.requestedAt + 30_000),
      ),
    );
    expect(claims.filter((c) => c === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c === 'busy')).toHaveLength(19);
    const reserved = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        stores[i % 4]!.requesters.reserve('who', `a${i}`, s.expiresAt, s.requestedAt, 10),
      ),
    );
    expect(reserved.filter(Boolean)).toHaveLength(10);
  });

  it('keeps one task’s binding in the task’s Redis Cluster slot, beside its other keys', async () => {
    const client = clients[0]!;
    await stores[0]!.tasks.bind('tsk_slot', 'task', null, 'apr_x', 60_000);
    const keys = await client.keys(`${prefix}task:{tsk_slot}*`);
    expect(keys).toEqual([`${prefix}task:{tsk_slot}:approvals`]);
  });
});
