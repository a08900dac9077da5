import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mint, mintTarget, startMint } from '../leases/support/mint.js';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { createIssuerKeys, type IssuerKeys, signToken } from '../support/keys.js';
import { deletePrefix, testPrefix } from '../support/redis.js';

const ROGUE = 'spiffe://test.example/agent/ambient-proc';

/**
 * Issue #15, failure 3, on two `escrow start` processes: a minted credential of a `requireTask: false` target,
 * cached by both, is revoked upstream by each kill-switch form sent to either process, and never injected again.
 * (test/leases/ambient.test.ts covers the sweeper and the listings, with a clock it can move.)
 */
describe('ambient leases are revoked by every kill-switch form across two processes', () => {
  const prefix = testPrefix('ambient-proc');
  let keys: IssuerKeys;
  let mint: Mint;
  let a: EscrowProcess;
  let b: EscrowProcess;
  let token: string;

  beforeAll(async () => {
    keys = await createIssuerKeys();
    mint = await startMint();
    const shared = {
      prefix,
      keys,
      secrets: { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') },
      targets: [{ ...mintTarget(mint, 'ambient'), requireTask: false }],
    };
    [a, b] = await Promise.all([startEscrowProcess(shared), startEscrowProcess(shared)]);
    token = await signToken(keys, { sub: ROGUE });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await mint?.close();
    await deletePrefix(prefix);
  });

  const keyUsed = async (at: EscrowProcess) => {
    const res = await fetch(`${at.url}/ambient/items`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const { leaseId } = (await res.json()) as { leaseId: string };
    return mint.keys.find((k) => k.leaseId === leaseId)!;
  };

  it.each([
    ['principal', `principal=${encodeURIComponent(ROGUE)}`],
    ['target', 'target=ambient'],
    ['all', 'all=true'],
  ])('revoke by %s', async (_, query) => {
    const before = await keyUsed(a);
    expect((await keyUsed(b)).key).toBe(before.key);
    const operator = query === 'target=ambient' ? a : b;
    const res = await fetch(`${operator.adminUrl}/admin/revoke?${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator.adminToken}` },
    });
    expect(await res.json()).toMatchObject({ tasks: 1, leases: 1 });
    await expect.poll(() => before.revokedAt, { timeout: 5_000 }).toBeTypeOf('number');
    const after = [await keyUsed(a), await keyUsed(b)];
    expect(after.map((k) => k.key)).not.toContain(before.key);
  });
});
