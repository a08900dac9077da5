import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalTransitions } from '../../gateway/approvals/store.js';
import { EscrowError } from '../../gateway/errors.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { type ApprovalEscrow, call, humanToken, perRequestTarget, startApprovalEscrow } from './support.js';

describe('a decision survives a store command that timed out, whether or not it ran', () => {
  let upstream: TestUpstream;
  let escrow: ApprovalEscrow;
  let clock = Date.now();
  let agent: string;
  let alice: string;
  let carol: string;
  let transitions: ApprovalTransitions;
  let realCommit: ApprovalTransitions['commit'];
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startApprovalEscrow({
      env: { BILLING_KEY: 'canary-faults-1' },
      targets: [perRequestTarget(upstream.url)],
      now: () => clock,
    });
    agent = await escrow.token({ expiresIn: 7_200 });
    alice = await humanToken(escrow.humanKeys, 'alice@example.org', ['billing-approvers'], 7_200);
    carol = await humanToken(escrow.humanKeys, 'carol@example.org', ['billing-approvers'], 7_200);
    transitions = escrow.gw.approvals.o.store.transitions;
    realCommit = transitions.commit.bind(transitions);
  });
  afterAll(async () => {
    transitions.commit = realCommit;
    await escrow?.close();
    await upstream?.close();
  });

  const timedOut = () => new EscrowError('store_unavailable', 'the approval store is unavailable');
  const pending = async () => {
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-61');
    const res = await call(`${escrow.url}/billing/invoices/6`, agent, { method: 'DELETE', task });
    return { task, id: ((await res.json()) as { approvalId: string }).approvalId };
  };
  const decide = (id: string, token: string) =>
    call(`${escrow.url}/_escrow/approvals/${id}`, token, { body: { decision: 'approve' } });

  it('finds its own decision on retry when the write ran but its answer was lost: one outcome, one event', async () => {
    const { task, id } = await pending();
    transitions.commit = async (...args) => {
      transitions.commit = realCommit;
      await realCommit(...args); // it ran…
      throw timedOut(); // …but the answer never came
    };
    expect((await decide(id, alice)).status).toBe(503);
    expect((await decide(id, carol)).status).toBe(409);
    const retried = await decide(id, alice);
    expect(retried.status).toBe(200);
    expect(((await retried.json()) as { state: string }).state).toBe('approved');
    const granted = (await escrow.auditEvents()).filter((e) => e.event === 'approval.granted' && e.approvalId === id);
    expect(granted).toHaveLength(1);
    expect(await escrow.gw.approvals.o.store.pending.range(0, Number.POSITIVE_INFINITY, 1_000)).not.toContain(id);
    expect((await call(`${escrow.url}/billing/invoices/6`, agent, { method: 'DELETE', task })).status).toBe(200);
  });

  it('holds an approval whose write never ran while its claim lasts, then lets anyone decide it', async () => {
    const { task, id } = await pending();
    transitions.commit = async () => {
      transitions.commit = realCommit;
      throw timedOut(); // never ran
    };
    expect((await decide(id, alice)).status).toBe(503);
    expect((await call(`${escrow.url}/billing/invoices/6`, agent, { method: 'DELETE', task })).status).toBe(403);
    const busy = await decide(id, carol);
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { detail: string }).detail).toContain('being decided');
    clock += 31_000; // the claim lapses
    expect((await decide(id, carol)).status).toBe(200);
    expect((await call(`${escrow.url}/billing/invoices/6`, agent, { method: 'DELETE', task })).status).toBe(200);
  });
});
