import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

/**
 * Every answer is given only once its event is in the trail: read the file the moment each answer has arrived,
 * without flushing anything, and the event is there. (A log that queued the event after answering fails this.)
 */
describe('the audit event of an answer is written before the answer arrives', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let token: string;
  /** The audit file as it is now: no flush. */
  const written = () => {
    const file = join(escrow.dir, 'audit.log');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  };

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      store: 'memory',
      env: { ANSWER_KEY: 'canary-answer-after-event-3c1d' },
      targets: [echoTarget(upstream.url, 'env:ANSWER_KEY')],
    });
    token = await escrow.token();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('a task opening (201), a proxied answer, a denial, a task close (204) and an admin revocation', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const task = await escrow.openTask(token, ['echo']);
    expect(
      written()
        .filter((e) => e.event === 'task.opened')
        .map((e) => (e.task as { id: string }).id),
    ).toEqual([task]);

    const res = await fetch(`${escrow.url}/echo/answered`, { headers: { ...auth, 'x-escrow-task': task } });
    const body = (await res.json()) as { headers: Record<string, string> };
    const requestId = body.headers['x-request-id'];
    expect(written().find((e) => e.event === 'request' && e.requestId === requestId)).toMatchObject({
      status: 200,
      decision: 'allow',
    });
    expect(written().some((e) => e.event === 'lease.issued')).toBe(true);

    const denied = await fetch(`${escrow.url}/echo/x`, {
      headers: { ...auth, 'x-escrow-task': 'tsk_000000000000000000000' },
    });
    const deniedId = denied.headers.get('x-request-id');
    await denied.arrayBuffer();
    expect(written().find((e) => e.event === 'request' && e.requestId === deniedId)).toMatchObject({
      decision: 'deny',
    });

    const closed = await fetch(`${escrow.url}/_escrow/tasks/${task}`, { method: 'DELETE', headers: auth });
    expect(closed.status).toBe(204);
    expect(written().some((e) => e.event === 'task.closed')).toBe(true);

    const second = await escrow.openTask(token, ['echo']);
    await (await fetch(`${escrow.url}/echo/y`, { headers: { ...auth, 'x-escrow-task': second } })).arrayBuffer();
    const revoke = await fetch(`${escrow.adminUrl}/admin/revoke?target=echo`, {
      method: 'POST',
      headers: escrow.adminHeaders,
    });
    expect(revoke.status).toBe(200);
    await revoke.arrayBuffer();
    expect(written().find((e) => e.event === 'admin.revoked')).toMatchObject({
      selector: { principal: null, target: 'echo', all: false },
    });
    expect(written().filter((e) => e.event === 'lease.revoked' && e.reason === 'admin')).toHaveLength(1);
  });
});
