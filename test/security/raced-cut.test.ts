import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEscrow } from '../support/escrow.js';
import { startEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { openWebSocket } from '../support/websocket.js';

const KEY = 'canary-raced-cut-77aa41';

// The race forced, not hoped for: the task's close notice lands while the admission is issuing the lease (after the
// task was read as live, before the request is bound to it). The agent is told 403, and the upstream must see
// nothing: not the request, not the injected key.
describe('a close that lands during admission stops the request before the upstream', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      store: 'memory',
      env: { KEY },
      targets: [{ ...echoTarget(upstream.url, 'env:KEY'), websocket: true }],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  /** Make the next lease issuance of `task` race its close (the notice arrives while the lease is issued). */
  function closeDuringLease(task: string): () => void {
    const leases = escrow.gw.leases as unknown as { acquire: (r: unknown) => Promise<unknown> };
    const original = leases.acquire;
    leases.acquire = async (request: unknown) => {
      const lease = await original.call(leases, request);
      escrow.gw.connections.cutTask(task, 'task_closed');
      return lease;
    };
    return () => {
      leases.acquire = original;
    };
  }

  it('answers 403 task_closed and sends nothing upstream, for a read and for a delete', async () => {
    const token = await escrow.token();
    for (const method of ['GET', 'DELETE']) {
      const task = await escrow.openTask(token, ['echo']);
      const restore = closeDuringLease(task);
      const before = upstream.requests.length;
      try {
        const res = await fetch(`${escrow.url}/echo/raced`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
        });
        expect(res.status).toBe(403);
        expect(((await res.json()) as { code: string }).code).toBe('task_closed');
      } finally {
        restore();
      }
      // Anything sent would have arrived by the time the next request has: send one through another task.
      const other = await escrow.openTask(token, ['echo']);
      const probe = await fetch(`${escrow.url}/echo/probe`, {
        headers: { authorization: `Bearer ${token}`, 'x-escrow-task': other },
      });
      await probe.text();
      expect(upstream.requests.slice(before).map((r) => r.url)).toEqual(['/probe']);
    }
    await escrow.gw.audit.flush();
    const raced = (await escrow.auditEvents()).filter((e) => e.event === 'request' && e.path === '/raced');
    expect(raced.map((e) => [e.status, e.reason])).toEqual([
      [403, 'cut_task_closed'],
      [403, 'cut_task_closed'],
    ]);
  });

  it('records a WebSocket upgrade cut as the cut it is', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['echo']);
    const restore = closeDuringLease(task);
    try {
      await expect(
        openWebSocket(Number(new URL(escrow.url).port), '/echo/ws-raced', {
          authorization: `Bearer ${token}`,
          'x-escrow-task': task,
        }),
      ).rejects.toThrow();
    } finally {
      restore();
    }
    await escrow.gw.audit.flush();
    const raced = (await escrow.auditEvents()).filter((e) => e.event === 'request' && e.path === '/ws-raced');
    expect(raced).toMatchObject([{ reason: 'cut_task_closed' }]);
  });
});
