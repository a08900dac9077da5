import {
  agentFromEnv,
  closeTask,
  type EscrowAgent,
  EscrowProblem,
  isMain,
  type OpenTaskRequest,
  openTask,
  type TaskRef,
} from './escrow-client.js';

/**
 * The task lifecycle as an agent framework would wire it: one task per job, one child task per step, each
 * closed in a `finally` so its credentials are revoked the moment the work is done — also when it fails.
 *
 *   job "sync invoices for ACME (CHG-1234)" on [crm, billing]       ← POST /_escrow/tasks
 *     step "read customers"  on [crm]                               ← POST … {"parent": job}
 *     step "post invoices"   on [billing]                           ← POST … {"parent": job}
 *   close the job                                                   ← DELETE: its steps' leases go too
 *
 * A step can only narrow its job (targets ⊆ the job's, expiry ≤ the job's); a tool call made in a step
 * carries the step's id in `x-escrow-task`, so the audit trail shows which step did what.
 */

/** What a job's code gets: its task and a way to run a step in a child task. */
export interface JobContext {
  readonly task: TaskRef;
  step<T>(name: string, targets: readonly string[], work: (step: TaskRef) => Promise<T>): Promise<T>;
}

/** Run `work` inside a task opened for `job`, and close the task however `work` ends. */
export async function runJob<T>(
  agent: EscrowAgent,
  job: OpenTaskRequest,
  work: (context: JobContext) => Promise<T>,
): Promise<T> {
  const task = await openTask(agent, job);
  const context: JobContext = {
    task,
    step: (name, targets, stepWork) =>
      withTask(agent, { intent: `${job.intent} / ${name}`, targets, parent: task.id }, stepWork),
  };
  try {
    return await work(context);
  } finally {
    await closeQuietly(agent, task.id);
  }
}

async function withTask<T>(agent: EscrowAgent, request: OpenTaskRequest, work: (t: TaskRef) => Promise<T>) {
  const task = await openTask(agent, request);
  try {
    return await work(task);
  } finally {
    await closeQuietly(agent, task.id);
  }
}

/**
 * Closing twice is harmless: a step already closed by its job's close answers 204 again. A 404 (`task_not_found`)
 * means Escrow no longer remembers the task (closed or expired more than five minutes ago): nothing left to close.
 */
async function closeQuietly(agent: EscrowAgent, id: string): Promise<void> {
  try {
    await closeTask(agent, id);
  } catch (error) {
    if (!(error instanceof EscrowProblem && error.status === 404)) throw error;
  }
}

/** A tool call made by a step: plain fetch through Escrow, naming the step's task. */
export async function callTarget(agent: EscrowAgent, task: TaskRef, path: string, init: RequestInit = {}) {
  return fetch(`${agent.url}${path}`, {
    ...init,
    headers: {
      ...(init.headers as Record<string, string>),
      authorization: `Bearer ${await agent.token()}`,
      'x-escrow-task': task.id,
    },
  });
}

// Against `npm start` (the dev default, target `echo`):
//   export ESCROW_TOKEN=$(npx escrow token dev); npx tsx examples/agents/task-lifecycle.ts
if (isMain(import.meta.url)) {
  const agent = agentFromEnv();
  await runJob(agent, { intent: 'demo: nightly sync', targets: ['echo'], ttlSeconds: 600 }, async (job) => {
    console.log(`job  ${job.task.id} until ${job.task.expiresAt}`);
    await job.step('read items', ['echo'], async (step) => {
      const res = await callTarget(agent, step, '/echo/items?limit=2');
      console.log(`step ${step.id} (parent ${step.parent}) GET /echo/items → ${res.status}`);
    });
    await job.step('write item', ['echo'], async (step) => {
      const res = await callTarget(agent, step, '/echo/items', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'demo' }),
      });
      console.log(`step ${step.id} (parent ${step.parent}) POST /echo/items → ${res.status}`);
    });
  });
  console.log("job closed: its leases and its steps' leases are revoked");
}
