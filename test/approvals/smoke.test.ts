import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import {
  type ApprovalEscrow,
  call,
  humanToken,
  perRequestTarget,
  perTaskTarget,
  startApprovalEscrow,
} from './support.js';

describe('smoke', () => {
  let upstream: TestUpstream;
  let escrow: ApprovalEscrow;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startApprovalEscrow({
      store: 'memory',
      env: { BILLING_KEY: 'canary-billing-1', PAYROLL_KEY: 'canary-payroll-1' },
      targets: [perRequestTarget(upstream.url), perTaskTarget(upstream.url)],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('works', async () => {
    const agent = await escrow.token();
    const alice = await humanToken(escrow.humanKeys, 'alice@example.org', ['billing-approvers', 'payroll-approvers']);
    const task = await escrow.openTask(agent, ['billing'], 'refund CHG-1');
    let res = await call(`${escrow.url}/billing/invoices/42`, agent, { method: 'DELETE', task });
    const problem = (await res.json()) as { approvalId: string; code: string };
    console.log(res.status, problem);
    res = await call(`${escrow.url}/_escrow/approvals/${problem.approvalId}`, alice, {
      body: { decision: 'approve', comment: 'ok' },
    });
    console.log(res.status, await res.json());
    res = await call(`${escrow.url}/billing/invoices/42`, agent, { method: 'DELETE', task });
    console.log(res.status, await res.text());
    res = await call(`${escrow.url}/billing/invoices/42`, agent, { method: 'DELETE', task });
    console.log(res.status, await res.text());
    res = await call(`${escrow.url}/_escrow/tasks`, agent, { body: { intent: 'pay', targets: ['payroll'] } });
    const opened = (await res.json()) as { id: string; approvalId: string };
    console.log(res.status, opened);
    res = await call(`${escrow.url}/payroll/x`, agent, { task: opened.id });
    console.log(res.status, await res.text());
    const waiting = call(`${escrow.url}/_escrow/tasks/${opened.id}?wait=30s`, agent).then(async (r) => [
      r.status,
      await r.json(),
    ]);
    res = await call(`${escrow.url}/_escrow/approvals/${opened.approvalId}`, alice, { body: { decision: 'approve' } });
    console.log(res.status, await res.json());
    console.log(await waiting);
    res = await call(`${escrow.url}/payroll/x`, agent, { task: opened.id });
    console.log(res.status, await res.text());
    console.log(JSON.stringify(await escrow.auditEvents(), null, 1).slice(0, 6000));
    expect(1).toBe(1);
  });
});
