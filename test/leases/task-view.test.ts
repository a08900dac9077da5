import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { type Mint, mintTarget, startMint } from './support/mint.js';
import { callTarget } from './support/replicas.js';

describe('GET /_escrow/tasks/<id> shows the task and the state of its leases, never a secret', () => {
  let mint: Mint;
  let escrow: TestEscrow;
  let token: string;
  beforeAll(async () => {
    mint = await startMint();
    escrow = await startEscrow({ targets: [mintTarget(mint), mintTarget(mint, 'other')] });
    token = await escrow.token();
  });
  afterAll(async () => {
    await escrow?.close();
    await mint?.close();
  });

  const view = (task: string, as = token) =>
    fetch(`${escrow.url}/_escrow/tasks/${task}`, { headers: { authorization: `Bearer ${as}` } });

  it('lists each issued lease with its id, adapter, state, expiry and fingerprint', async () => {
    const task = await escrow.openTask(token, ['minted', 'other'], 'inspect my leases');
    const empty = (await (await view(task)).json()) as { leases: unknown[] };
    expect(empty.leases).toEqual([]);
    const used = await callTarget(escrow, token, task);
    const res = await view(task);
    expect(res.status).toBe(200);
    const text = await res.text();
    const body = JSON.parse(text) as Record<string, unknown> & { leases: Record<string, unknown>[] };
    expect(body).toMatchObject({ id: task, intent: 'inspect my leases', targets: ['minted', 'other'], parent: null });
    expect(body.leases).toEqual([
      {
        id: used.body.leaseId,
        target: 'minted',
        adapter: 'minting',
        state: 'active',
        issuedAt: expect.any(String),
        expiresAt: expect.any(String),
        secretFingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
    const minted = mint.keys.find((k) => k.leaseId === used.body.leaseId)!;
    expect(text).not.toContain(minted.key);
    expect(text).not.toContain(Buffer.from(minted.key).toString('base64'));
  });

  it('answers 404 to another principal and after the task is closed', async () => {
    const task = await escrow.openTask(token, ['minted']);
    await callTarget(escrow, token, task);
    const stranger = await escrow.token({ sub: 'spiffe://test.example/agent/stranger' });
    expect((await view(task, stranger)).status).toBe(404);
    const closed = await fetch(`${escrow.url}/_escrow/tasks/${task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(closed.status).toBe(204);
    expect((await view(task)).status).toBe(404);
  });
});
