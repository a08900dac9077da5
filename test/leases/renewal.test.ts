import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mint, mintTarget, startMint } from './support/mint.js';
import { callTarget, eventsOf, type Replicas, startReplicas } from './support/replicas.js';

// A 2 s credential is renewed once less than half of it is left (renewWindowMs): from 1 s after issuance.
const TTL_SECONDS = 2;
/** How far the replicas' clock runs ahead of the wall clock: the tests move it instead of sleeping. */
let ahead = 0;

describe('a lease near its end under a live task is renewed transparently and the old credential revoked', () => {
  let mint: Mint;
  let replicas: Replicas;
  beforeAll(async () => {
    mint = await startMint();
    replicas = await startReplicas(2, {
      targets: [mintTarget(mint, 'minted', TTL_SECONDS)],
      now: () => Date.now() + ahead,
    });
  });
  afterAll(async () => {
    await replicas?.close();
    await mint?.close();
  });

  it('answers the request that renews with a fresh credential, and revokes and audits the old one', async () => {
    const [a] = replicas.all;
    const token = await a!.token();
    const task = await a!.openTask(token, ['minted']);
    const first = await callTarget(a!, token, task);
    expect(first.status).toBe(200);
    expect((await callTarget(a!, token, task)).body.leaseId).toBe(first.body.leaseId);
    ahead += 1_150; // into the renewal window, however long the calls above took on a loaded machine
    const renewed = await callTarget(a!, token, task);
    expect(renewed.status).toBe(200);
    expect(renewed.body.leaseId).not.toBe(first.body.leaseId);

    const old = mint.keys.find((k) => k.leaseId === first.body.leaseId)!;
    await expect.poll(() => old.revokedAt, { timeout: 5_000 }).toBeTypeOf('number');
    const audit = await a!.auditEvents();
    expect(audit).toContainEqual(
      expect.objectContaining({ event: 'lease.renewed', leaseId: renewed.body.leaseId, previousLeaseId: old.leaseId }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({ event: 'lease.revoked', leaseId: old.leaseId, reason: 'renewed' }),
    );
  });

  it('keeps every request of a long task working across renewals on two replicas', async () => {
    const [a, b] = replicas.all;
    const token = await a!.token({ sub: 'spiffe://test.example/agent/long' });
    const task = await a!.openTask(token, ['minted']);
    const statuses: number[] = [];
    // The replicas' clock moves STEP_MS per pair of requests (plus the wall time the pair took): a lease issued at
    // one step is inside its renewal window (more than 1 s old) two steps later at the latest, and a lease is not
    // renewed twice within a step unless the pair itself took over 400 ms.
    const STEP_MS = 600;
    const STEPS = 8;
    for (let step = 0; step <= STEPS; step++) {
      const pair = await Promise.all([callTarget(a!, token, task), callTarget(b!, token, task)]);
      statuses.push(...pair.map((r) => r.status));
      ahead += STEP_MS;
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const minted = mint.keys.filter((k) => k.taskId === task);
    // One issuance, then a renewal at least every second step; at most one per pair of requests, never one per request.
    expect(minted.length).toBeGreaterThanOrEqual(1 + STEPS / 2);
    expect(minted.length).toBeLessThanOrEqual(1 + STEPS);
    const renewed = (await eventsOf(replicas.all, 'lease.renewed')).filter(
      (e) => (e.task as { id: string }).id === task,
    );
    const issued = (await eventsOf(replicas.all, 'lease.issued')).filter((e) => (e.task as { id: string }).id === task);
    expect(issued).toHaveLength(1);
    expect(renewed).toHaveLength(minted.length - 1);
    const superseded = minted.slice(0, -1);
    await expect.poll(() => superseded.filter((k) => k.revokedAt === undefined), { timeout: 6_000 }).toEqual([]);
  });
});
