import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mint, mintTarget, startMint } from '../leases/support/mint.js';
import { callTarget } from '../leases/support/replicas.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';

describe('a replica whose revocation subscription is down stops trusting its cache until resubscribed', () => {
  const prefix = testPrefix('cache-trust');
  const user = `escrowtest-acl-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  let admin: Redis;
  let mint: Mint;
  let a: TestEscrow;
  let b: TestEscrow;

  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
    mint = await startMint();
    // Replica A connects as its own Redis user, so that its channel rights can be taken away (Redis then drops
    // its subscriber) without touching anyone else's connections on this shared Redis.
    await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, `~${prefix}*`, '&*', '+@all');
    const asUser = new URL(REDIS_URL);
    asUser.username = user;
    asUser.password = password;
    b = await startEscrow({ targets: [mintTarget(mint)], prefix });
    a = await startEscrow({
      targets: [mintTarget(mint)],
      prefix,
      keys: b.keys,
      secrets: b.secrets,
      config: { store: asUser.toString() },
    });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await mint?.close();
    await deletePrefix(prefix);
    await admin?.call('ACL', 'DELUSER', user);
    admin?.disconnect();
  });

  it('goes to the store while unsubscribed, honours a revocation it never heard of, and trusts again after', async () => {
    const token = await b.token();
    const task = await b.openTask(token, ['minted']);
    const other = await b.openTask(token, ['minted']);
    for (const t of [task, other, task]) expect((await callTarget(a, token, t)).status).toBe(200);
    expect(a.gw.tasks.cache.size).toBeGreaterThan(0);
    expect(a.gw.state.subscribed).toBe(true);

    await admin.call('ACL', 'SETUSER', user, 'resetchannels'); // Redis disconnects A's subscriber; resubscribing fails
    await expect.poll(() => a.gw.state.subscribed).toBe(false);
    expect(a.gw.tasks.cache.trusted).toBe(false);
    expect(a.gw.tasks.cache.size).toBe(0);
    const ready = await fetch(`${a.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { revocations: 'down' } });

    expect((await callTarget(a, token, other)).status).toBe(200); // still serves, from the store
    expect(a.gw.tasks.cache.size).toBe(0);
    const closed = await fetch(`${b.url}/_escrow/tasks/${task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(closed.status).toBe(204);
    expect(await callTarget(a, token, task)).toMatchObject({ status: 403, body: { code: 'task_closed' } });

    await admin.call('ACL', 'SETUSER', user, 'allchannels');
    await expect.poll(() => a.gw.state.subscribed, { timeout: 5_000 }).toBe(true);
    expect(a.gw.tasks.cache.trusted).toBe(true);
    expect((await callTarget(a, token, other)).status).toBe(200);
    expect(a.gw.tasks.cache.size).toBeGreaterThan(0);
    expect((await fetch(`${a.adminUrl}/readyz`)).status).toBe(200);
  });
});
