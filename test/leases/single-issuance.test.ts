import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mint, mintTarget, startMint } from './support/mint.js';
import { callTarget, eventsOf, type Replicas, startReplicas } from './support/replicas.js';

describe('fifty concurrent first requests for one lease issue exactly one credential', () => {
  let mint: Mint;
  let replicas: Replicas;
  beforeAll(async () => {
    // Issuing takes 150 ms, so every request arrives while the first issuance is still under way.
    mint = await startMint({ issueDelayMs: 150 });
    replicas = await startReplicas(2, { targets: [mintTarget(mint)] });
  });
  afterAll(async () => {
    await replicas?.close();
    await mint?.close();
  });

  it('issues one credential for fifty requests into one replica', async () => {
    const [a] = replicas.all;
    const token = await a!.token();
    const task = await a!.openTask(token, ['minted']);
    const results = await Promise.all(Array.from({ length: 50 }, () => callTarget(a!, token, task)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const minted = mint.keys.filter((k) => k.taskId === task);
    expect(minted).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.leaseId))).toEqual(new Set([minted[0]!.leaseId]));
    const issued = (await eventsOf(replicas.all, 'lease.issued')).filter((e) => (e.task as { id: string }).id === task);
    expect(issued).toHaveLength(1);
  });

  it('issues one credential for fifty requests spread over two replicas', async () => {
    const [a, b] = replicas.all;
    const token = await a!.token({ sub: 'spiffe://test.example/agent/spread' });
    const task = await a!.openTask(token, ['minted']);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => callTarget(i % 2 === 0 ? a! : b!, token, task)),
    );
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(mint.keys.filter((k) => k.taskId === task)).toHaveLength(1);
    const issued = (await eventsOf(replicas.all, 'lease.issued')).filter((e) => (e.task as { id: string }).id === task);
    expect(issued).toHaveLength(1);
  });
});
