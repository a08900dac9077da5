import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpPrefix } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { type ApprovalEscrow, call, humanToken, perTaskTarget, startApprovalEscrow } from './support.js';

const KEY = 'canary-payroll-tasks-90ab1';

interface Body {
  id: string;
  state: string;
  code?: string;
  reason?: string;
  approvalId?: string;
  approval?: { state: string };
  leases?: { target: string }[];
}

describe('a task that policy marks waits for a person: pending, then active, denied, expired or closed', () => {
  let upstream: TestUpstream;
  let escrow: ApprovalEscrow;
  let clock = Date.now();
  let agent: string;
  let alice: string;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startApprovalEscrow({
      env: { PAYROLL_KEY: KEY },
      targets: [perTaskTarget(upstream.url)],
      now: () => clock,
    });
    agent = await escrow.token({ expiresIn: 7_200 });
    alice = await humanToken(escrow.humanKeys, 'alice@example.org', ['payroll-approvers'], 7_200);
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const open = async (extra: Record<string, unknown> = {}) => {
    const res = await call(`${escrow.url}/_escrow/tasks`, agent, {
      body: { intent: 'pay June', targets: ['payroll'], ...extra },
    });
    return { status: res.status, ...((await res.json()) as Body) };
  };
  const use = (task: string) => call(`${escrow.url}/payroll/runs`, agent, { task });
  const status = async (task: string, query = '') =>
    (await call(`${escrow.url}/_escrow/tasks/${task}${query}`, agent)).json() as Promise<Body>;
  const decide = (id: string, decision: string) =>
    call(`${escrow.url}/_escrow/approvals/${id}`, alice, { body: { decision } });
  const events = async (name: string, approvalId: string) =>
    (await escrow.auditEvents()).filter((e) => e.event === name && e.approvalId === approvalId);

  it('answers 202 pending, refuses every request and every step, and holds no lease', async () => {
    const opened = await open();
    expect(opened).toMatchObject({ status: 202, state: 'pending', approval: { state: 'pending' } });
    const refused = (await (await use(opened.id)).json()) as Body;
    expect(refused).toMatchObject({ code: 'approval_required', reason: 'task_pending', approvalId: opened.approvalId });
    expect(await status(opened.id)).toMatchObject({ state: 'pending', approvalId: opened.approvalId, leases: [] });
    const step = await open({ parent: opened.id });
    expect(step).toMatchObject({ status: 403, code: 'approval_required', approvalId: opened.approvalId });
    expect(await dumpPrefix(escrow.prefix)).not.toContain(`lease:{${opened.id}}`);
    expect(upstream.requests).toHaveLength(0);
  });

  it('wakes a long-poll at the decision; the approved task then works and its trail names the person', async () => {
    const opened = await open();
    const polled = status(opened.id, '?wait=30s');
    await expect.poll(() => escrow.gw.approvals.waiters.size).toBe(1);
    expect((await decide(opened.approvalId!, 'approve')).status).toBe(200);
    expect(await polled).toMatchObject({ state: 'active', approval: { state: 'approved' } });
    const used = await use(opened.id);
    expect(used.status).toBe(200);
    expect(upstream.requests.at(-1)!.headers['x-api-key']).toBe(KEY);
    expect((await status(opened.id)).leases).toHaveLength(1);
    expect(await events('approval.granted', opened.approvalId!)).toMatchObject([
      { kind: 'task', principal: { id: 'alice@example.org', type: 'Human' }, task: { id: opened.id } },
    ]);
    expect((await open({ parent: opened.id })).status).toBe(202); // a step asks for its own approval
  });

  it('closes a denied task: GET says denied, requests are refused, and no lease was ever issued', async () => {
    const opened = await open();
    expect((await decide(opened.approvalId!, 'deny')).status).toBe(200);
    expect(await status(opened.id)).toMatchObject({ id: opened.id, state: 'denied' });
    expect((await use(opened.id)).status).toBe(403);
    expect(await escrow.gw.leases.list(opened.id, ['payroll'])).toEqual([]);
    expect(
      (await escrow.auditEvents()).filter(
        (e) => e.event === 'lease.issued' && (e.task as { id: string }).id === opened.id,
      ),
    ).toEqual([]);
  });

  it('expires what nobody decided in time: the task is closed, GET says expired, a late approval is refused', async () => {
    const opened = await open();
    clock += 901_000; // approvals.ttlSeconds is 900
    expect(await status(opened.id)).toMatchObject({ state: 'expired' });
    // Every replica sweeps; the store lets one expire each approval, once (earlier tests left some pending too).
    expect(await escrow.gw.approvals.sweep()).toBeGreaterThanOrEqual(1);
    expect(await escrow.gw.approvals.sweep()).toBe(0);
    expect((await escrow.gw.approvals.get(opened.approvalId!))?.state).toBe('expired');
    expect(await status(opened.id)).toMatchObject({ state: 'expired' });
    expect((await use(opened.id)).status).toBe(403);
    expect((await decide(opened.approvalId!, 'approve')).status).toBe(409);
    expect(await events('approval.expired', opened.approvalId!)).toMatchObject([
      { reason: 'no_decision', kind: 'task' },
    ]);
    expect(await escrow.gw.leases.list(opened.id, ['payroll'])).toEqual([]);
  });

  it('cancels the approval of a task closed before anyone decided: nobody can approve it any more', async () => {
    const opened = await open();
    expect((await call(`${escrow.url}/_escrow/tasks/${opened.id}`, agent, { method: 'DELETE' })).status).toBe(204);
    await expect.poll(async () => (await escrow.gw.approvals.get(opened.approvalId!))?.state).toBe('cancelled');
    expect((await decide(opened.approvalId!, 'approve')).status).toBe(409);
    expect(await status(opened.id)).toMatchObject({ state: 'closed' });
    expect(await events('approval.cancelled', opened.approvalId!)).toHaveLength(1);
  });

  it('records an expiry, not a cancellation, when the task is closed after its approval fell due', async () => {
    const opened = await open({ ttlSeconds: 3_600 }); // the approval falls due (900 s) before the task
    clock += 901_000;
    // The close's notice reaches the approvals before any sweep does (the order seen when a task expires too).
    expect((await call(`${escrow.url}/_escrow/tasks/${opened.id}`, agent, { method: 'DELETE' })).status).toBe(204);
    await expect.poll(async () => (await escrow.gw.approvals.get(opened.approvalId!))?.state).toBe('expired');
    expect(await events('approval.expired', opened.approvalId!)).toHaveLength(1);
    expect(await events('approval.cancelled', opened.approvalId!)).toHaveLength(0);
  });

  it('counts pending approvals, decisions by outcome, and the time they took', async () => {
    const registry = escrow.gw.metrics.registry;
    const value = async (name: string, labels: Record<string, string> = {}) => {
      const family = name.replace(/_bucket$/, '');
      const metric = await registry.getSingleMetric(family)!.get();
      const match = metric.values.find(
        (v) =>
          ((v as { metricName?: string }).metricName ?? family) === name &&
          Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l),
      );
      return match?.value ?? 0;
    };
    const granted = { kind: 'task', outcome: 'granted' };
    const before = {
      pending: await value('escrow_approvals_pending'),
      granted: await value('escrow_approval_decisions_total', granted),
      quick: await value('escrow_approval_decision_seconds_bucket', { ...granted, le: '30' }),
      slow: await value('escrow_approval_decision_seconds_bucket', { ...granted, le: '15' }),
    };
    const opened = await open();
    expect(await value('escrow_approvals_pending')).toBe(before.pending + 1);
    clock += 20_000;
    await decide(opened.approvalId!, 'approve');
    expect(await value('escrow_approvals_pending')).toBe(before.pending);
    expect(await value('escrow_approval_decisions_total', granted)).toBe(before.granted + 1);
    // Twenty seconds from request to decision: in the 30 s bucket, not in the 15 s one.
    expect(await value('escrow_approval_decision_seconds_bucket', { ...granted, le: '30' })).toBe(before.quick + 1);
    expect(await value('escrow_approval_decision_seconds_bucket', { ...granted, le: '15' })).toBe(before.slow);
  });

  it('answers 400 to a wait that is not a duration', async () => {
    const opened = await open();
    expect((await call(`${escrow.url}/_escrow/tasks/${opened.id}?wait=forever`, agent)).status).toBe(400);
  });
});
