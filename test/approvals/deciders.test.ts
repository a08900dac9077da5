import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApprovalId } from '../../gateway/approvals/model.js';
import { signToken } from '../support/keys.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import {
  type ApprovalEscrow,
  call,
  HUMAN_ISSUER,
  humanToken,
  perRequestTarget,
  startApprovalEscrow,
} from './support.js';

const KEY = 'canary-deciders-5f0e3';

interface Answer {
  status: number;
  code?: string;
  reason?: string;
  decisionId?: string;
  approvalId?: string;
  state?: string;
  approvals?: { id: string }[];
}

describe('only a person whom policy allows decides, never an agent and never the one who asked', () => {
  let upstream: TestUpstream;
  let escrow: ApprovalEscrow;
  let agent: string;
  let alice: string;
  let bob: string;
  let carol: string;
  const tokens: string[] = [];
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startApprovalEscrow({
      store: 'memory',
      env: { BILLING_KEY: KEY },
      targets: [perRequestTarget(upstream.url)],
    });
    agent = await escrow.token();
    alice = await humanToken(escrow.humanKeys, 'alice@example.org', ['billing-approvers']);
    carol = await humanToken(escrow.humanKeys, 'carol@example.org', ['billing-approvers']);
    bob = await humanToken(escrow.humanKeys, 'bob@example.org', ['payroll-approvers']);
    tokens.push(agent, alice, bob, carol);
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const answer = async (res: Response): Promise<Answer> => ({ status: res.status, ...((await res.json()) as object) });
  const decide = (id: string, token: string, decision = 'approve') =>
    call(`${escrow.url}/_escrow/approvals/${id}`, token, { body: { decision } }).then(answer);
  const pending = async () => {
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-31');
    const res = await call(`${escrow.url}/billing/invoices/1`, agent, { method: 'DELETE', task });
    return { task, id: ((await res.json()) as Answer).approvalId! };
  };
  const events = async (name: string) => (await escrow.auditEvents()).filter((e) => e.event === name);

  it('refuses an agent token, audits and counts it, and tells it nothing about the approval', async () => {
    const { id } = await pending();
    const known = await decide(id, agent);
    const unknown = await decide(newApprovalId(), agent);
    for (const refused of [known, unknown]) {
      expect(refused).toMatchObject({ status: 403, code: 'approval_forbidden', reason: 'not_human' });
    }
    expect((await escrow.gw.approvals.get(id))?.state).toBe('pending');
    const audited = (await events('approval.refused')).filter((e) => e.approvalId === id);
    expect(audited).toMatchObject([{ reason: 'not_human', decision: 'deny', principal: { type: 'Agent' } }]);
    const metrics = await escrow.gw.metrics.registry.getSingleMetricAsString('escrow_approval_refusals_total');
    expect(metrics).toMatch(/reason="not_human"} 2/);
  });

  it('rejects a token that names the people’s issuer but is signed with an agent’s key', async () => {
    const forged = await signToken(escrow.keys, {
      sub: 'alice@example.org',
      iss: HUMAN_ISSUER,
      claims: { groups: ['billing-approvers'] },
    });
    const { id } = await pending();
    expect(await decide(id, forged)).toMatchObject({ status: 401, code: 'identity_rejected' });
    expect((await escrow.gw.approvals.get(id))?.state).toBe('pending');
  });

  it('refuses a person policy does not allow, with the decision id, and audits it', async () => {
    const { id } = await pending();
    const refused = await decide(id, bob);
    expect(refused).toMatchObject({ status: 403, code: 'approval_forbidden', reason: 'policy_denied' });
    expect(refused.decisionId).toMatch(/^dec_/);
    const audited = (await events('approval.refused')).find((e) => e.approvalId === id);
    expect(audited).toMatchObject({
      reason: 'policy_denied',
      decisionId: refused.decisionId,
      principal: { id: 'bob@example.org' },
    });
  });

  it('refuses the person who asked, even one policy allows', async () => {
    const { id } = await pending();
    const approval = (await escrow.gw.approvals.get(id))!;
    const own = {
      ...approval.subject,
      id: newApprovalId(),
      requester: { type: 'Human' as const, id: 'alice@example.org', issuer: 'corp' },
    };
    expect(await escrow.gw.approvals.create(own, 'k', 'r:own', null, 'req_test')).toBe(true);
    expect(await decide(own.id, alice)).toMatchObject({ status: 403, code: 'approval_forbidden', reason: 'requester' });
  });

  it('shows a person only what they may decide, the agent its own, and anyone else nothing', async () => {
    const { id } = await pending();
    const other = await escrow.token({ sub: 'spiffe://test.example/agent/other' });
    const listed = await answer(await call(`${escrow.url}/_escrow/approvals`, alice));
    expect(listed.approvals?.map((a) => a.id)).toContain(id);
    expect((await answer(await call(`${escrow.url}/_escrow/approvals`, bob))).approvals).toEqual([]);
    expect((await call(`${escrow.url}/_escrow/approvals`, agent)).status).toBe(403);
    expect((await call(`${escrow.url}/_escrow/approvals/${id}`, bob)).status).toBe(404);
    expect((await call(`${escrow.url}/_escrow/approvals/${id}`, other)).status).toBe(404);
    const own = (await (await call(`${escrow.url}/_escrow/approvals/${id}`, agent)).json()) as Record<string, unknown>;
    expect(own).toMatchObject({ id, state: 'pending', method: 'DELETE', path: '/invoices/1' });
    expect(own.agent).toBeUndefined();
    const seen = (await (await call(`${escrow.url}/_escrow/approvals/${id}`, alice)).json()) as Record<string, unknown>;
    expect(seen).toMatchObject({
      agent: { type: 'Agent', id: 'spiffe://test.example/agent/a' },
      task: { intent: 'refund CHG-31' },
      targets: ['billing'],
      method: 'DELETE',
      path: '/invoices/1',
      policies: ['prod-changes-need-approval'],
    });
  });

  it('makes a decision final: another is refused (409), the same person’s retry answers alike, audited once', async () => {
    const { id } = await pending();
    expect(await decide(id, alice)).toMatchObject({ status: 200, state: 'approved' });
    expect(await decide(id, carol, 'deny')).toMatchObject({ status: 409, code: 'approval_decided' });
    expect(await decide(id, alice)).toMatchObject({ status: 200, state: 'approved' });
    expect((await events('approval.granted')).filter((e) => e.approvalId === id)).toHaveLength(1);
  });

  it('shows operators what waits on the admin API, which has no way to decide', async () => {
    const { id } = await pending();
    const list = (await (
      await fetch(`${escrow.adminUrl}/admin/approvals`, { headers: escrow.adminHeaders })
    ).json()) as { approvals: { id: string }[] };
    expect(list.approvals.map((a) => a.id)).toContain(id);
    expect((await fetch(`${escrow.adminUrl}/admin/approvals/${id}`, { headers: escrow.adminHeaders })).status).toBe(
      200,
    );
    const posted = await fetch(`${escrow.adminUrl}/admin/approvals/${id}`, {
      method: 'POST',
      headers: escrow.adminHeaders,
    });
    expect(posted.status).toBe(404);
    expect((await escrow.gw.approvals.get(id))?.state).toBe('pending');
  });

  it('approves nothing while the audit sink is down (503), and the approval waits on', async () => {
    const { id } = await pending();
    const file = join(escrow.dir, 'audit.log');
    await escrow.gw.audit.flush();
    rmSync(file);
    mkdirSync(file); // the file sink fails: the audit is unhealthy
    try {
      // An event that cannot be written: with the audit failing closed, the task is refused as well.
      await expect(escrow.openTask(agent, ['billing'], 'refund CHG-32')).rejects.toThrow(/503/);
      await escrow.gw.audit.flush();
      expect(await decide(id, alice)).toMatchObject({ status: 503, code: 'audit_unavailable' });
      expect((await escrow.gw.approvals.get(id))?.state).toBe('pending');
    } finally {
      rmSync(file, { recursive: true });
    }
    await expect.poll(async () => (await decide(id, alice)).status, { timeout: 10_000 }).toBe(200);
  });

  it('puts no secret and no token in any view or approval event', async () => {
    const views = [
      await (await call(`${escrow.url}/_escrow/approvals`, alice)).text(),
      await (await fetch(`${escrow.adminUrl}/admin/approvals`, { headers: escrow.adminHeaders })).text(),
      JSON.stringify((await escrow.auditEvents()).filter((e) => String(e.event).startsWith('approval.'))),
    ].join('\n');
    expect(views).toContain('approval');
    expect(views).not.toContain(KEY);
    for (const token of tokens) expect(views).not.toContain(token.split('.')[2]!);
  });
});
