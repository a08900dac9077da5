import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpPrefix } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { type ApprovalEscrow, call, humanToken, perRequestTarget, startApprovalEscrow } from './support.js';

const KEY = 'canary-billing-requests-71c2';

interface Problem {
  code: string;
  approvalId?: string;
  reason?: string;
}

describe('a request approval covers exactly one method, target, canonical path and query, once', () => {
  let upstream: TestUpstream;
  let escrow: ApprovalEscrow;
  let agent: string;
  let alice: string;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startApprovalEscrow({
      env: { BILLING_KEY: KEY },
      targets: [perRequestTarget(upstream.url)],
      approvals: { maxPendingPerRequester: 6 },
    });
    agent = await escrow.token();
    alice = await humanToken(escrow.humanKeys, 'alice@example.org', ['billing-approvers']);
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const ask = (task: string, method: string, path: string, token = agent) =>
    call(`${escrow.url}/billing${path}`, token, { method, task });
  const approve = (id: string, decision: 'approve' | 'deny' = 'approve') =>
    call(`${escrow.url}/_escrow/approvals/${id}`, alice, { body: { decision } });
  const problem = async (res: Response) => ({ status: res.status, ...((await res.json()) as Problem) });

  it('issues no lease and sends nothing upstream while the request waits', async () => {
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-7');
    const waiting = await problem(await ask(task, 'DELETE', '/invoices/42'));
    expect(waiting).toMatchObject({ status: 403, code: 'approval_required', reason: 'request_pending' });
    expect(waiting.approvalId).toMatch(/^apr_/);
    expect(await escrow.gw.leases.list(task, ['billing'])).toEqual([]);
    expect(await dumpPrefix(escrow.prefix)).not.toContain(`lease:{${task}}`);
    expect(upstream.requests).toHaveLength(0);
    // Asking again before anyone decided names the same approval: people are asked once.
    expect((await problem(await ask(task, 'DELETE', '/invoices/42'))).approvalId).toBe(waiting.approvalId);
    await approve(waiting.approvalId!, 'deny');
  });

  it('lets the approved request through once; every other method, path, query or task asks again', async () => {
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-8');
    const { approvalId } = await problem(await ask(task, 'DELETE', '/invoices/42'));
    expect((await approve(approvalId!)).status).toBe(200);
    const other = await escrow.openTask(agent, ['billing'], 'refund CHG-9');
    const variants = [
      await ask(task, 'POST', '/invoices/42'),
      await ask(task, 'DELETE', '/invoices/43'),
      await ask(task, 'DELETE', '/invoices/42?cascade=all'),
      await ask(task, 'DELETE', '/invoices/42/'),
      await ask(other, 'DELETE', '/invoices/42'),
    ];
    const ids = new Set<string>();
    for (const res of variants) {
      const p = await problem(res);
      expect(p).toMatchObject({ status: 403, code: 'approval_required' });
      ids.add(p.approvalId!);
    }
    expect(ids.size).toBe(5);
    expect(ids.has(approvalId!)).toBe(false);
    await Promise.all([...ids].map((id) => approve(id, 'deny')));
    const passed = await ask(task, 'DELETE', '/invoices/42');
    expect(passed.status).toBe(200);
    expect(upstream.requests.at(-1)).toMatchObject({ method: 'DELETE', url: '/invoices/42' });
    expect(upstream.requests.at(-1)!.headers['x-api-key']).toBe(KEY);
    const again = await problem(await ask(task, 'DELETE', '/invoices/42'));
    expect(again).toMatchObject({ code: 'approval_required' });
    expect(again.approvalId).not.toBe(approvalId);
    await approve(again.approvalId!, 'deny');
  });

  it('keeps a denied request denied for the task, while the task’s other requests go on', async () => {
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-10');
    const { approvalId } = await problem(await ask(task, 'DELETE', '/invoices/9'));
    expect((await approve(approvalId!, 'deny')).status).toBe(200);
    expect(await problem(await ask(task, 'DELETE', '/invoices/9'))).toMatchObject({
      status: 403,
      code: 'approval_denied',
      approvalId,
    });
    expect((await ask(task, 'GET', '/invoices/9')).status).toBe(200);
  });

  it('asks once for ten identical requests racing before anyone decided', async () => {
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-11');
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => ask(task, 'DELETE', '/invoices/77').then(problem)),
    );
    expect(new Set(answers.map((a) => a.approvalId)).size).toBe(1);
    const events = await escrow.auditEvents();
    const requested = events.filter((e) => e.event === 'approval.requested' && (e.task as { id: string }).id === task);
    expect(requested).toHaveLength(1);
    await approve(answers[0]!.approvalId!, 'deny');
  });

  it('bounds what one agent may have waiting (429 approval_limit), so it cannot page people without end', async () => {
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-12');
    const answers = [];
    for (let i = 0; i < 7; i++) answers.push(await problem(await ask(task, 'DELETE', `/spam/${i}`)));
    expect(answers.slice(0, 6).map((a) => a.code)).toEqual(Array(6).fill('approval_required'));
    expect(answers[6]).toMatchObject({ status: 429, code: 'approval_limit' });
    // A decision frees its slot.
    await approve(answers[0]!.approvalId!, 'deny');
    const freed = await problem(await ask(task, 'DELETE', '/spam/6'));
    expect(freed.code).toBe('approval_required');
    for (const a of [...answers.slice(1, 6), freed]) await approve(a.approvalId!, 'deny');
  });

  it('lets the agent long-poll its own approval, and shows it the state but not who decided or why', async () => {
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-13');
    const { approvalId } = await problem(await ask(task, 'DELETE', '/invoices/5'));
    const polled = call(`${escrow.url}/_escrow/approvals/${approvalId}?wait=30s`, agent).then(
      async (r) => [r.status, await r.json()] as const,
    );
    // The long-poll is registered before the decision: wait until this replica holds it.
    await expect.poll(() => escrow.gw.approvals.waiters.size).toBe(1);
    await call(`${escrow.url}/_escrow/approvals/${approvalId}`, alice, {
      body: { decision: 'approve', comment: 'internal note for the record' },
    });
    const [status, view] = await polled;
    expect(status).toBe(200);
    expect(view).toMatchObject({ id: approvalId, state: 'approved', usesLeft: 1, task });
    expect(JSON.stringify(view)).not.toContain('alice');
    expect(JSON.stringify(view)).not.toContain('internal note');
    expect((await ask(task, 'DELETE', '/invoices/5')).status).toBe(200);
  });
});
