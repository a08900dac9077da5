import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

describe('with the audit sink down, no new credential is issued, and existing leases keep working', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let token: string;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      store: 'memory',
      env: { K: 'canary-audit-down-3e9d1' },
      targets: [
        {
          name: 'echo',
          upstream: upstream.url,
          attributes: { sensitivity: 'low', environment: 'dev' },
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:K', ttl: 300 },
        },
      ],
    });
    token = await escrow.token();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const call = (task: string) =>
    fetch(`${escrow.url}/echo/x`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });

  it('refuses issuance with 503 audit_unavailable, serves existing leases, and recovers', async () => {
    const before = await escrow.openTask(token, ['echo']);
    expect((await call(before)).status).toBe(200);
    const file = join(escrow.dir, 'audit.log');
    await escrow.gw.audit.flush();
    rmSync(file);
    mkdirSync(file); // appending to a directory fails: the file sink is down
    try {
      const after = await escrow.openTask(token, ['echo']);
      const refused = await call(after);
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe('audit_unavailable');
      expect((await call(before)).status).toBe(200);
      const ready = await fetch(`${escrow.adminUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: { audit: string } }).checks.audit).toBe('unavailable');
    } finally {
      rmSync(file, { recursive: true });
    }
    const deadline = Date.now() + 10_000;
    const again = await escrow.openTask(token, ['echo']);
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await call(again)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    // The trail has the recovered issuance (the test deleted the file that held the first one).
    const events = await escrow.auditEvents();
    const issuedFor = (task: string) =>
      events.some((e) => e.event === 'lease.issued' && (e.task as { id: string } | undefined)?.id === task);
    expect(issuedFor(again)).toBe(true);
  });
});
