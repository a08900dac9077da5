import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const _run = promisify(execFile);
const KEY = 'canary-admin-auth-3f9e1b';

const echo = (upstream: string) => ({
  name: 'echo',
  upstream,
  attributes: { sensitivity: 'low', environment: 'dev' },
  credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
});

/**
 * Issue #15, failure 8: the admin API trusted anyone who reached it (unauthenticated `GET /admin/tasks` listed every
 * principal and intent; `POST /admin/revoke` revoked everything). Every admin endpoint but the probes and metrics now
 * needs the admin credential: the bearer token or a client certificate from `admin.clientCA`.
 */
describe('the admin API requires the admin credential except for /healthz, /readyz and /metrics', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let agentToken: string;
  let task: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({ env: { KEY }, targets: [echo(upstream.url)] });
    agentToken = await escrow.token({ sub: 'spiffe://test.example/agent/secretive' });
    task = await escrow.openTask(agentToken, ['echo'], 'the intent nobody else should read');
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const call = (path: string, init: RequestInit = {}) => fetch(`${escrow.adminUrl}${path}`, init);

  it.each([
    ['GET', '/admin/tasks'],
    ['POST', '/admin/revoke?all=true'],
    ['DELETE', '/admin/tasks/tsk_AAAAAAAAAAAAAAAAAAAAAA'],
    ['GET', '/admin/nothing-here'],
  ])('%s %s without the token: 401 problem, nothing listed or revoked', async (method, path) => {
    for (const authorization of [
      undefined,
      'Bearer wrong-token-0123456789',
      `Basic ${btoa(`x:${escrow.adminToken}`)}`,
    ]) {
      const res = await call(path, { method, headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ code: 'admin_unauthorized' });
      expect(text).not.toContain('secretive');
      expect(text).not.toContain(escrow.adminToken);
    }
    const res = await fetch(`${escrow.url}/echo/x`, {
      headers: { authorization: `Bearer ${agentToken}`, 'x-escrow-task': task },
    });
    expect(res.status).toBe(200); // nothing was revoked
  });

  it('answers the probes and /metrics without a credential, and everything with the token', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await call(path)).status).toBe(200);
    const listed = await call('/admin/tasks', { headers: escrow.adminHeaders });
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain('the intent nobody else should read');
  });

  it('never writes the admin token to the logs, metrics or the audit trail', async () => {
    const metrics = await (await call('/metrics')).text();
    expect(metrics).not.toContain(escrow.adminToken);
    expect(JSON.stringify(await escrow.auditEvents())).not.toContain(escrow.adminToken);
  });
});

describe('admin credential configuration', () => {
  let upstream: TestUpstream;
  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(async () => upstream?.close());

  it('refuses every protected endpoint when no credential is configured (fail closed), still answering probes', async () => {
    const escrow = await startEscrow({
      env: { KEY },
      targets: [echo(upstream.url)],
      config: { admin: { listen: '127.0.0.1:0' } },
    });
    try {
      const res = await fetch(`${escrow.adminUrl}/admin/tasks`, { headers: escrow.adminHeaders });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ reason: 'admin_credential_not_configured' });
      expect((await fetch(`${escrow.adminUrl}/readyz`)).status).toBe(200);
    } finally {
      await escrow.close();
    }
  });

  it('guards /metrics too with authenticateMetrics, and refuses a short token at start naming admin.token', async () => {
    const escrow = await startEscrow({
      env: { KEY, ADMIN: 'a-long-enough-admin-token' },
      targets: [echo(upstream.url)],
      config: { admin: { listen: '127.0.0.1:0', token: 'env:ADMIN', authenticateMetrics: true } },
    });
    try {
      expect((await fetch(`${escrow.adminUrl}/metrics`)).status).toBe(401);
      const ok = await fetch(`${escrow.adminUrl}/metrics`, {
        headers: { authorization: 'Bearer a-long-enough-admin-token' },
      });
      expect(ok.status).toBe(200);
    } finally {
      await escrow.close();
    }
    const short = startEscrow({
      env: { KEY, ADMIN: 'short' },
      targets: [echo(upstream.url)],
      config: { admin: { listen: '127.0.0.1:0', token: 'env:ADMIN' } },
    });
    await expect(short).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringContaining('admin.token'),
    });
  });
});
