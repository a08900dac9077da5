import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mint, mintTarget, startMint } from '../leases/support/mint.js';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { createIssuerKeys, type IssuerKeys, signToken } from '../support/keys.js';
import { deletePrefix, testPrefix } from '../support/redis.js';

const LIMIT = 100;
const OPENS = 500;

/**
 * Issue #15, failure 4: the per-principal open-task limit was check-then-act (500 concurrent opens made 242 and
 * 360 tasks against 100; two replicas made 111 of 160). It is now one atomic step in Redis; two processes.
 */
describe('tasks.maxOpenPerPrincipal holds exactly under concurrent opens across two replica processes', () => {
  const prefix = testPrefix('open-limit');
  let keys: IssuerKeys;
  let mint: Mint;
  let a: EscrowProcess;
  let b: EscrowProcess;

  beforeAll(async () => {
    keys = await createIssuerKeys();
    mint = await startMint();
    const shared = {
      prefix,
      keys,
      secrets: { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') },
      targets: [mintTarget(mint)],
      config: { tasks: { maxOpenPerPrincipal: LIMIT } },
    };
    [a, b] = await Promise.all([startEscrowProcess(shared), startEscrowProcess(shared)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await mint?.close();
    await deletePrefix(prefix);
  });

  const open = (at: EscrowProcess, token: string) =>
    fetch(`${at.url}/_escrow/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'race the limit', targets: ['minted'] }),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as { id?: string; code?: string } }));

  it(`opens exactly ${LIMIT} of ${OPENS} concurrent opens spread over both, and 429 for the rest`, async () => {
    const token = await signToken(keys, { sub: 'spiffe://test.example/agent/greedy' });
    const answers = await Promise.all(Array.from({ length: OPENS }, (_, i) => open(i % 2 ? a : b, token)));
    const opened = answers.filter((r) => r.status === 201);
    expect(opened).toHaveLength(LIMIT);
    expect(answers.filter((r) => r.status === 429).every((r) => r.body.code === 'task_limit')).toBe(true);
    expect(answers.filter((r) => r.status !== 201 && r.status !== 429)).toEqual([]);
    // Closing one frees exactly one slot, on either replica.
    const closed = await fetch(`${a.url}/_escrow/tasks/${opened[0]!.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(closed.status).toBe(204);
    const again = await Promise.all(Array.from({ length: 20 }, (_, i) => open(i % 2 ? a : b, token)));
    expect(again.filter((r) => r.status === 201)).toHaveLength(1);
  }, 60_000);

  it('counts each principal on its own', async () => {
    const token = await signToken(keys, { sub: 'spiffe://test.example/agent/modest' });
    expect((await open(b, token)).status).toBe(201);
  });
});
