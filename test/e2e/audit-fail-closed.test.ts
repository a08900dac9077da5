import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

describe('with the audit sink down (failMode closed), nothing is served and nothing reaches the upstream', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let token: string;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      store: 'memory',
      env: { K: 'canary-audit-down-3e9d1' },
      targets: [echoTarget(upstream.url, 'env:K')],
    });
    token = await escrow.token();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const call = (task: string) =>
    fetch(`${escrow.url}/echo/x`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });

  it('refuses every request with 503 audit_unavailable, even under a lease already held, and recovers', async () => {
    const before = await escrow.openTask(token, ['echo']);
    expect((await call(before)).status).toBe(200);
    const file = join(escrow.dir, 'audit.log');
    await escrow.gw.audit.flush();
    rmSync(file);
    mkdirSync(file); // appending to a directory fails: the file sink is down
    try {
      // The first request after the failure finds the sink down when its own event cannot be written: the answer
      // is refused (or cut). From then on the log is unhealthy and requests are refused before they go upstream.
      // (A short answer is held whole by the scrubber's window, so its head may never have left: the cut can come
      // before the head, and then fetch itself rejects.)
      await call(before)
        .then((res) => res.arrayBuffer())
        .catch(() => undefined);
      await expect.poll(() => escrow.gw.audit.healthy).toBe(false);
      const seen = upstream.requests.length;
      const refused = await call(before);
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe('audit_unavailable');
      const opened = await fetch(`${escrow.url}/_escrow/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ intent: 'while the trail is down', targets: ['echo'] }),
      });
      expect(opened.status).toBe(503);
      expect(upstream.requests.length).toBe(seen);
      const ready = await fetch(`${escrow.adminUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: { audit: string } }).checks.audit).toBe('unavailable');
    } finally {
      rmSync(file, { recursive: true });
    }
    await expect.poll(() => escrow.gw.audit.healthy, { timeout: 10_000 }).toBe(true);
    const again = await escrow.openTask(token, ['echo']);
    expect((await call(again)).status).toBe(200);
    // The trail has the recovered issuance and the refusals (the test deleted the file that held the first lease).
    const events = await escrow.auditEvents();
    const issuedFor = (task: string) =>
      events.some((e) => e.event === 'lease.issued' && (e.task as { id: string } | undefined)?.id === task);
    expect(issuedFor(again)).toBe(true);
    expect(events.some((e) => e.event === 'request' && e.reason === 'audit_unavailable')).toBe(true);
  });
});
