import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeTask,
  type EscrowAgent,
  EscrowProblem,
  openTask,
  type TaskRef,
} from '../../examples/agents/escrow-client.js';
import { callTarget, runJob } from '../../examples/agents/task-lifecycle.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const KEY = 'canary-lifecycle-0d6b2f93a1c7e845';

const target = (name: string, upstream: string) => ({
  name,
  upstream,
  attributes: { sensitivity: 'low', environment: 'dev' },
  credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
});

describe('an agent framework opens a task per job, a child task per step, and closes them', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let agent: EscrowAgent;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { KEY },
      targets: [target('crm', `${upstream.url}/crm`), target('billing', `${upstream.url}/billing`)],
    });
    const token = await escrow.token();
    agent = { url: escrow.url, token: async () => token };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('runs each step under its own child task and revokes everything when the job ends', async () => {
    const seen: { job?: TaskRef; steps: TaskRef[] } = { steps: [] };
    const job = { intent: 'sync invoices for ACME', targets: ['crm', 'billing'], ttlSeconds: 600 };
    await runJob(agent, job, async (ctx) => {
      seen.job = ctx.task;
      await ctx.step('read customers', ['crm'], async (step) => {
        seen.steps.push(step);
        expect((await callTarget(agent, step, '/crm/customers')).status).toBe(200);
      });
      await ctx.step('post invoices', ['billing'], async (step) => {
        seen.steps.push(step);
        const res = await callTarget(agent, step, '/billing/invoices', { method: 'POST', body: '{}' });
        expect(res.status).toBe(200);
      });
    });
    const jobId = seen.job!.id;
    expect(seen.steps.map((s) => [s.parent, s.targets])).toEqual([
      [jobId, ['crm']],
      [jobId, ['billing']],
    ]);
    expect(upstream.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /crm/customers',
      'POST /billing/invoices',
    ]);

    for (const task of [seen.job!, ...seen.steps]) {
      const after = await callTarget(agent, task, `/${task.targets[0]}/again`);
      expect(after.status).toBe(403);
    }
    const events = await escrow.auditEvents();
    const requests = events.filter((e) => e.event === 'request') as { task?: { chain: string[] } }[];
    expect(requests.slice(0, 2).map((e) => e.task?.chain)).toEqual(seen.steps.map((s) => [jobId, s.id]));
    expect(events.filter((e) => e.event === 'task.opened')).toHaveLength(3);
    expect(events.filter((e) => e.event === 'task.closed')).toHaveLength(3);
    expect(JSON.stringify(events)).not.toContain(KEY);
  });

  it('closes the job when its work throws', async () => {
    let opened: TaskRef | undefined;
    const failing = runJob(agent, { intent: 'a job that fails', targets: ['crm'] }, async (ctx) => {
      opened = ctx.task;
      throw new Error('tool call failed');
    });
    await expect(failing).rejects.toThrow('tool call failed');
    expect((await callTarget(agent, opened!, '/crm/x')).status).toBe(403);
  });

  it('closes a step left open with its job, never past the job, and answers 204 to a second close', async () => {
    const job = await openTask(agent, { intent: 'job', targets: ['crm'], ttlSeconds: 60 });
    const step = await openTask(agent, { intent: 'job / step', targets: ['crm'], ttlSeconds: 3600, parent: job.id });
    expect(Date.parse(step.expiresAt)).toBeLessThanOrEqual(Date.parse(job.expiresAt));
    expect((await callTarget(agent, step, '/crm/x')).status).toBe(200);
    await closeTask(agent, job.id);
    expect((await callTarget(agent, step, '/crm/x')).status).toBe(403);
    // Closing is idempotent (a retry finishes whatever a failed close left); 404 is for ids never this agent's.
    await expect(closeTask(agent, step.id)).resolves.toBeUndefined();
    await expect(closeTask(agent, job.id)).resolves.toBeUndefined();
    await expect(closeTask(agent, 'tsk_AAAAAAAAAAAAAAAAAAAAAA')).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a step that asks for a target its job does not list', async () => {
    const widen = runJob(agent, { intent: 'crm only', targets: ['crm'] }, (ctx) =>
      ctx.step('sneak into billing', ['billing'], async () => 'unreachable'),
    );
    await expect(widen).rejects.toBeInstanceOf(EscrowProblem);
    await expect(widen).rejects.toMatchObject({ status: 400, code: 'task_invalid' });
  });
});
