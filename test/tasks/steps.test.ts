import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mint, mintTarget, startMint } from '../leases/support/mint.js';
import { callTarget } from '../leases/support/replicas.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';

describe('a step (child task) narrows its parent and dies with it', () => {
  let mint: Mint;
  let escrow: TestEscrow;
  let token: string;
  beforeAll(async () => {
    mint = await startMint();
    escrow = await startEscrow({
      targets: [mintTarget(mint), mintTarget(mint, 'other')],
      config: { tasks: { maxDepth: 2, maxOpenPerPrincipal: 500 } },
    });
    token = await escrow.token();
  });
  afterAll(async () => {
    await escrow?.close();
    await mint?.close();
  });

  const open = (body: Record<string, unknown>, as = token) =>
    fetch(`${escrow.url}/_escrow/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${as}`, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'a step', ...body }),
    });
  const close = (task: string) =>
    fetch(`${escrow.url}/_escrow/tasks/${task}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });

  it('refuses a step that asks for a target its parent does not list', async () => {
    const parent = await escrow.openTask(token, ['minted']);
    const res = await open({ targets: ['minted', 'other'], parent });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'task_invalid', detail: expect.stringContaining('other') });
  });

  it('never lets a step outlive its parent, whatever ttl it asks for', async () => {
    const parent = await escrow.openTask(token, ['minted'], 'parent', { ttlSeconds: 60 });
    const parentView = (await (
      await fetch(`${escrow.url}/_escrow/tasks/${parent}`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { expiresAt: string };
    const res = await open({ targets: ['minted'], parent, ttlSeconds: 3_600 });
    expect(res.status).toBe(201);
    const step = (await res.json()) as { expiresAt: string; parent: string };
    expect(step.parent).toBe(parent);
    expect(Date.parse(step.expiresAt)).toBeLessThanOrEqual(Date.parse(parentView.expiresAt));
  });

  it('refuses a step nested deeper than tasks.maxDepth, and a parent of another principal', async () => {
    const root = await escrow.openTask(token, ['minted']);
    const one = await escrow.openTask(token, ['minted'], 'depth 1', { parent: root });
    const two = await escrow.openTask(token, ['minted'], 'depth 2', { parent: one });
    expect((await open({ targets: ['minted'], parent: two })).status).toBe(400);
    const stranger = await escrow.token({ sub: 'spiffe://test.example/agent/stranger' });
    const res = await open({ targets: ['minted'], parent: root }, stranger);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ detail: 'parent: no such live task' });
  });

  it("closing a parent revokes its steps' leases, down to grandchildren, and refuses their next request", async () => {
    const parent = await escrow.openTask(token, ['minted', 'other']);
    const step = await escrow.openTask(token, ['minted'], 'step', { parent });
    const grandchild = await escrow.openTask(token, ['minted'], 'grandchild', { parent: step });
    for (const task of [parent, step, grandchild]) expect((await callTarget(escrow, token, task)).status).toBe(200);
    const keys = mint.keys.filter((k) => [parent, step, grandchild].includes(k.taskId));
    expect(keys).toHaveLength(3);

    expect((await close(parent)).status).toBe(204);
    for (const task of [parent, step, grandchild]) {
      expect(await callTarget(escrow, token, task)).toMatchObject({ status: 403, body: { code: 'task_closed' } });
    }
    await expect.poll(() => keys.filter((k) => k.revokedAt === undefined), { timeout: 5_000 }).toEqual([]);
    const revoked = (await escrow.auditEvents()).filter((e) => e.event === 'lease.revoked');
    const reasonOf = (task: string) => revoked.find((e) => (e.task as { id: string }).id === task)?.reason;
    expect([reasonOf(parent), reasonOf(step), reasonOf(grandchild)]).toEqual([
      'task_closed',
      'parent_closed',
      'parent_closed',
    ]);
  });

  it('leaves no step alive when steps are opened while their parent is being closed', async () => {
    for (let round = 0; round < 16; round++) {
      const parent = await escrow.openTask(token, ['minted']);
      const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
      // One step is open before the close starts, whatever the machine's load (the close must take it); nine more
      // open one millisecond apart and race the close, which lands somewhere among them.
      const first = await open({ targets: ['minted'], parent });
      expect(first.status).toBe(201);
      const racing = Array.from({ length: 9 }, (_, i) => delay(i).then(() => open({ targets: ['minted'], parent })));
      const opening = [Promise.resolve(first), ...racing];
      const closing = delay((round % 10) * 3).then(() => close(parent));
      const [closed, ...answers] = await Promise.all([closing, ...opening]);
      expect(closed.status).toBe(204);
      const steps = await Promise.all(
        answers.filter((r) => r.status === 201).map(async (r) => ((await r.json()) as { id: string }).id),
      );
      for (const r of answers.filter((a) => a.status !== 201)) expect(r.status).toBe(400);
      // Every step that was handed out is closed: its record (if still kept) carries a tombstone.
      for (const step of steps) {
        const entry = await escrow.gw.store.tasks.read(step);
        expect(entry === null || entry.tombstone !== null).toBe(true);
      }
      expect(steps.length).toBeGreaterThan(0);
      for (const step of steps) expect(await escrow.gw.tasks.get(step)).toBeNull();
    }
  });
});
