import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMBIENT_INTENT } from '../../gateway/tasks/ambient.js';
import { createIssuerKeys, type IssuerKeys, signToken } from '../support/keys.js';
import { type Mint, mintTarget, startMint } from './support/mint.js';
import { eventsOf, type Replicas, startReplicas } from './support/replicas.js';

const ROGUE = 'spiffe://test.example/agent/ambient-rogue';
const OTHER = 'spiffe://test.example/agent/ambient-bystander';

/**
 * Issue #15, failure 3: leases of `requireTask: false` targets escaped every kill-switch form and the sweeper. An
 * ambient lease is now a stored, indexed task per (principal, target): each kill-switch form and the sweeper close
 * it, its minted credential is revoked upstream, both replicas stop injecting it, and operators see it listed.
 */
describe('ambient leases (requireTask: false) are revoked by every kill-switch form and the sweeper', () => {
  let mint: Mint;
  let keys: IssuerKeys;
  let replicas: Replicas;
  let offset = 0;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    mint = await startMint();
    keys = await createIssuerKeys();
    const targets = [
      { ...mintTarget(mint, 'ambient', 30), requireTask: false },
      { ...mintTarget(mint, 'other', 30), requireTask: false },
    ];
    replicas = await startReplicas(2, { targets, keys, now: () => Date.now() + offset });
    tokens.rogue = await signToken(keys, { sub: ROGUE, expiresIn: 3_600 });
    tokens.other = await signToken(keys, { sub: OTHER, expiresIn: 3_600 });
  });
  afterAll(async () => {
    await replicas?.close();
    await mint?.close();
  });

  /** The key the upstream was given for `who` on `target` through replica `i` (each must be live to get 200). */
  const keyUsed = async (i: number, who: string, target = 'ambient') => {
    const res = await fetch(`${replicas.all[i]!.url}/${target}/items`, {
      headers: { authorization: `Bearer ${tokens[who]}` },
    });
    expect(res.status).toBe(200);
    const { leaseId } = (await res.json()) as { leaseId: string };
    return mint.keys.find((k) => k.leaseId === leaseId)!;
  };
  const revoke = async (query: string) => {
    const [a] = replicas.all;
    const res = await fetch(`${a!.adminUrl}/admin/revoke?${query}`, { method: 'POST', headers: a!.adminHeaders });
    expect(res.status).toBe(200);
    return (await res.json()) as { tasks: number; leases: number };
  };

  it.each([
    ['principal', `principal=${encodeURIComponent(ROGUE)}`],
    ['target', 'target=ambient'],
    ['all', 'all=true'],
  ])('revoke by %s: the minted key is revoked upstream and never injected again, on both replicas', async (_, q) => {
    const before = await keyUsed(0, 'rogue');
    expect((await keyUsed(1, 'rogue')).key).toBe(before.key); // both replicas share (and cache) the ambient lease
    const bystander = await keyUsed(0, 'other', 'other');
    expect((await revoke(q)).leases).toBeGreaterThanOrEqual(1);
    await expect.poll(() => before.revokedAt, { timeout: 5_000 }).toBeTypeOf('number');
    const after = [await keyUsed(0, 'rogue'), await keyUsed(1, 'rogue')];
    expect(after.map((k) => k.key)).not.toContain(before.key);
    expect(after[0]!.key).toBe(after[1]!.key); // one fresh lease, shared again
    if (q !== 'all=true') expect(bystander.revokedAt).toBeUndefined(); // spares what it does not match
  });

  it('lists ambient leases’ tasks to operators, and never accepts an ambient id as X-Escrow-Task', async () => {
    await keyUsed(0, 'rogue');
    const [a] = replicas.all;
    const res = await fetch(`${a!.adminUrl}/admin/tasks?principal=${encodeURIComponent(ROGUE)}`, {
      headers: a!.adminHeaders,
    });
    const { tasks } = (await res.json()) as { tasks: { id: string; intent: string; targets: string[] }[] };
    const ambient = tasks.find((t) => t.id.startsWith('amb_'))!;
    expect(ambient).toMatchObject({ intent: AMBIENT_INTENT, targets: ['ambient'] });
    const shown = await fetch(`${a!.adminUrl}/admin/tasks/${ambient.id}`, { headers: a!.adminHeaders });
    expect(((await shown.json()) as { leases: unknown[] }).leases).toHaveLength(1);
    const misuse = await fetch(`${a!.url}/ambient/items`, {
      headers: { authorization: `Bearer ${tokens.rogue}`, 'x-escrow-task': ambient.id },
    });
    expect(misuse.status).toBe(403);
  });

  it('has the sweeper revoke an ambient lease upstream once it expired unused', async () => {
    const key = await keyUsed(0, 'rogue');
    offset += 2 * 60_000; // the lease (30 s) and its ambient task (+60 s) are long past
    const swept = await Promise.all(replicas.all.map((r) => r.gw.revoker.sweepExpired()));
    expect(swept.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(1);
    await expect.poll(() => key.revokedAt, { timeout: 5_000 }).toBeTypeOf('number');
    const revoked = await eventsOf(replicas.all, 'lease.revoked');
    expect(revoked.some((e) => e.leaseId === key.leaseId && e.reason === 'task_expired')).toBe(true);
  });
});
