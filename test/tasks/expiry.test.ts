import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mint, mintTarget, startMint } from '../leases/support/mint.js';
import { callTarget, eventsOf, type Replicas, startReplicas } from '../leases/support/replicas.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('when a task expires, the sweeper revokes its dynamic credentials upstream', () => {
  let mint: Mint;
  let replicas: Replicas;
  beforeAll(async () => {
    mint = await startMint();
    replicas = await startReplicas(2, { targets: [mintTarget(mint)] });
  });
  afterAll(async () => {
    await replicas?.close();
    await mint?.close();
  });

  it('refuses the expired task at once, then revokes each credential exactly once though both replicas sweep', async () => {
    const [a, b] = replicas.all;
    const token = await a!.token();
    // Warm both replicas first: a lease needs at least a second of its task left, and a cold start is slow.
    const warm = await a!.openTask(token, ['minted'], 'warm-up');
    for (const replica of [a!, b!]) expect((await callTarget(replica, token, warm)).status).toBe(200);
    const parent = await a!.openTask(token, ['minted'], 'expires soon', { ttlSeconds: 2 });
    const step = await a!.openTask(token, ['minted'], 'its step', { parent });
    expect((await callTarget(a!, token, parent)).status).toBe(200);
    expect((await callTarget(b!, token, step)).status).toBe(200);
    const keys = mint.keys.filter((k) => k.taskId === parent || k.taskId === step);
    const attemptsBefore = mint.revoking.attempts;
    expect(keys).toHaveLength(2);

    await sleep(2_200);
    expect(await callTarget(a!, token, parent)).toMatchObject({ status: 403, body: { code: 'task_closed' } });
    expect(await callTarget(b!, token, step)).toMatchObject({ status: 403, body: { code: 'task_closed' } });
    expect(keys.every((k) => k.revokedAt === undefined)).toBe(true); // expiry alone does not revoke upstream

    const swept = await Promise.all([a!.gw.revoker.sweepExpired(), b!.gw.revoker.sweepExpired()]);
    expect(swept[0]! + swept[1]!).toBe(2);
    await expect.poll(() => keys.filter((k) => k.revokedAt === undefined), { timeout: 5_000 }).toEqual([]);
    expect(mint.revoking.attempts - attemptsBefore).toBe(2);
    const revoked = await eventsOf(replicas.all, 'lease.revoked');
    expect(revoked.map((e) => e.reason).sort()).toEqual(['task_expired', 'task_expired']);
    expect(revoked.map((e) => e.leaseId).sort()).toEqual(keys.map((k) => k.leaseId).sort());
  });
});
