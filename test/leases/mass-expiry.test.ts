import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { type Mint, mintTarget, startMint } from './support/mint.js';
import { callTarget } from './support/replicas.js';

const TASKS = 200;
/** How far Escrow's clock runs ahead of the wall clock: the test moves it past the tasks' end instead of sleeping. */
let ahead = 0;

/** Run `work` over `items`, at most `limit` at a time. */
async function inBatches<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += limit) await Promise.all(items.slice(i, i + limit).map(work));
}

describe('a mass expiry revokes every credential upstream without storming it or stalling requests', () => {
  let mint: Mint;
  let escrow: TestEscrow;
  beforeAll(async () => {
    // A slow revocation endpoint that also fails its first 20 calls: retries with backoff must absorb it.
    mint = await startMint({ revokeDelayMs: 40, failRevocations: 20 });
    escrow = await startEscrow({
      targets: [mintTarget(mint)],
      config: { tasks: { maxOpenPerPrincipal: 1_000 } },
      now: () => Date.now() + ahead,
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await mint?.close();
  });

  it(`sweeps ${TASKS} expired tasks, revokes through a bounded queue, and keeps requests fast`, async () => {
    const token = await escrow.token();
    const live = await escrow.openTask(token, ['minted'], 'outlives the others');
    expect((await callTarget(escrow, token, live)).status).toBe(200);
    const doomed: string[] = [];
    await inBatches(Array.from({ length: TASKS }), 25, async () => {
      const task = await escrow.openTask(token, ['minted'], 'short', { ttlSeconds: 4 });
      doomed.push(task);
      expect((await callTarget(escrow, token, task)).status).toBe(200);
    });
    const doomedKeys = mint.keys.filter((k) => doomed.includes(k.taskId));
    expect(doomedKeys).toHaveLength(TASKS);

    ahead += 4_300;
    expect((await callTarget(escrow, token, doomed[0]!)).status).toBe(403); // expired tasks refuse at once
    // The credential service now takes revocations but answers none: whatever completes below did not wait for one.
    const release = mint.holdRevocations();
    expect(await escrow.gw.revoker.sweepExpired()).toBe(TASKS); // the sweep queues revocations, it does not run them
    await expect.poll(() => mint.revoking.now, { timeout: 10_000 }).toBeGreaterThan(0);
    for (let i = 0; i < 30; i++) expect((await callTarget(escrow, token, live)).status).toBe(200);
    // Every request above was answered while the revocations were queued and the ones running were held upstream.
    expect(doomedKeys.filter((k) => k.revokedAt !== undefined)).toEqual([]);
    expect(escrow.gw.revoker.queue.pending).toBeGreaterThan(0);
    release();

    await expect.poll(() => doomedKeys.filter((k) => k.revokedAt === undefined).length, { timeout: 20_000 }).toBe(0);
    expect(mint.revoking.max).toBeLessThanOrEqual(4);
    expect(mint.revoking.attempts).toBe(TASKS + 20); // each failure retried once it was answered
    const revoked = (await escrow.auditEvents()).filter((e) => e.event === 'lease.revoked');
    expect(revoked.filter((e) => e.reason === 'task_expired')).toHaveLength(TASKS);
    expect(await escrow.gw.revoker.sweepExpired()).toBe(0);
  });
});
