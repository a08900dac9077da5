import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTrace, auditVerify } from '../../gateway/audit/index.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import {
  type ApprovalEscrow,
  call,
  humanToken,
  perRequestTarget,
  perTaskTarget,
  startApprovalEscrow,
} from './support.js';

const BILLING = 'canary-trace-billing-0c1d';
const PAYROLL = 'canary-trace-payroll-93fe';

describe('escrow audit trace names the person who approved the task or the request a secret served', () => {
  let upstream: TestUpstream;
  let escrow: ApprovalEscrow;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startApprovalEscrow({
      store: 'memory',
      env: { BILLING_KEY: BILLING, PAYROLL_KEY: PAYROLL },
      targets: [perRequestTarget(upstream.url), perTaskTarget(upstream.url)],
    });
    const agent = await escrow.token();
    const alice = await humanToken(escrow.humanKeys, 'alice@example.org', ['payroll-approvers']);
    const bob = await humanToken(escrow.humanKeys, 'bob@example.org', ['billing-approvers']);
    const decide = (id: string, token: string, comment: string) =>
      call(`${escrow.url}/_escrow/approvals/${id}`, token, { body: { decision: 'approve', comment } });

    const opened = (await (
      await call(`${escrow.url}/_escrow/tasks`, agent, { body: { intent: 'pay June', targets: ['payroll'] } })
    ).json()) as { id: string; approvalId: string };
    await decide(opened.approvalId, alice, 'June run checked');
    expect((await call(`${escrow.url}/payroll/runs`, agent, { task: opened.id })).status).toBe(200);

    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-88');
    expect((await call(`${escrow.url}/billing/invoices/8`, agent, { task })).status).toBe(200);
    const waiting = await call(`${escrow.url}/billing/invoices/8`, agent, { method: 'DELETE', task });
    await decide(((await waiting.json()) as { approvalId: string }).approvalId, bob, 'duplicate invoice');
    expect((await call(`${escrow.url}/billing/invoices/8`, agent, { method: 'DELETE', task })).status).toBe(200);
    await escrow.gw.audit.flush();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const lines = () => readFileSync(join(escrow.dir, 'audit.log'), 'utf8').split('\n').filter(Boolean);
  const trace = (secret: string, json = false) =>
    auditTrace({ input: lines(), secretOrFingerprint: secret, hmacKey: escrow.secrets.auditKey, json });

  it('writes the approval events into the hash chain, which verifies', () => {
    const events = lines().map((l) => JSON.parse(l) as { event: string; seq: number; hash: string });
    const kinds = new Set(events.map((e) => e.event).filter((e) => e.startsWith('approval.')));
    expect([...kinds].sort()).toEqual(['approval.granted', 'approval.requested']);
    for (const e of events) expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(auditVerify({ input: lines(), json: false }).ok).toBe(true);
  });

  it('shows who approved the task that the secret served', () => {
    const text = trace(PAYROLL);
    expect(text).toMatch(
      /approved {3}task by Human alice@example\.org \(issuer corp\) at \S+ \(apr_\S+, decision dec_\S+\): "June run checked"/,
    );
    expect(text).not.toContain(PAYROLL);
  });

  it('shows who approved the very request the secret served, and none for the read that needed nobody', () => {
    const text = trace(BILLING);
    const lines = text.split('\n');
    const del = lines.findIndex((l) => / DELETE \/invoices\/8 → 200/.test(l));
    expect(del).toBeGreaterThan(-1);
    expect(lines[del + 1]).toMatch(/approved by Human bob@example\.org \(issuer corp\).*"duplicate invoice"/);
    const read = lines.findIndex((l) => / GET \/invoices\/8 → 200/.test(l));
    expect(lines[read + 1]).not.toMatch(/approved by/);
    const json = JSON.parse(trace(BILLING, true)) as {
      leases: { requests: { method: string; approval?: { by: { id: string } } }[] }[];
    };
    const approved = json.leases[0]!.requests.filter((r) => r.approval);
    expect(approved.map((r) => [r.method, r.approval!.by.id])).toEqual([['DELETE', 'bob@example.org']]);
  });
});
