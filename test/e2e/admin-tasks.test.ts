import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCommand } from '../support/cli.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
/** Node's arguments that run the CLI (test/support/cli.ts). */
const cli = cliCommand();
const CANARY = 'canary-admin-tasks-77aa1';

describe('operators list, show and close tasks through the admin API and `escrow tasks`', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let token: string;
  let task: string;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { K: CANARY },
      targets: [echoTarget(upstream.url, 'env:K')],
    });
    token = await escrow.token({ sub: 'spiffe://test.example/agent/ops-view' });
    task = await escrow.openTask(token, ['echo'], 'nightly report');
    await fetch(`${escrow.url}/echo/x`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });
  const withToken = () => ({ env: { ...process.env, ESCROW_ADMIN_TOKEN: escrow.adminToken } });

  it('lists the live task of a principal, with no secret', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        ...cli,
        'tasks',
        'list',
        '--principal',
        'spiffe://test.example/agent/ops-view',
        '--admin',
        escrow.adminUrl,
        '--json',
      ],
      withToken(),
    );
    const body = JSON.parse(stdout) as { tasks: { id: string; intent: string }[] };
    expect(body.tasks.map((t) => t.id)).toEqual([task]);
    expect(stdout).not.toContain(CANARY);
  });

  it('shows the task with its active lease and fingerprint, never the secret', async () => {
    const { stdout } = await run(
      process.execPath,
      [...cli, 'tasks', 'show', task, '--admin', escrow.adminUrl],
      withToken(),
    );
    expect(stdout).toContain('lease lse_');
    expect(stdout).toContain('active');
    expect(stdout).not.toContain(CANARY);
  });

  it('closes the task: the agent’s next call is refused', async () => {
    const { stdout } = await run(
      process.execPath,
      [...cli, 'tasks', 'close', task, '--admin', escrow.adminUrl],
      withToken(),
    );
    expect(stdout).toContain('1 lease(s) revoked');
    const res = await fetch(`${escrow.url}/echo/x`, {
      headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
    });
    expect(res.status).toBe(403);
    const events = await escrow.auditEvents();
    expect(events.some((e) => e.event === 'task.closed' && e.reason === 'admin')).toBe(true);
  });
});
