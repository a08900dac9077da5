import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { rawGet } from '../support/raw.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

const CANARY = 'canary-sk-7f3a9c1e5b2d4f60';

describe('the whole pipeline over real Redis', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let token: string;
  let task: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { ECHO_KEY: CANARY },
      targets: [
        echoTarget(upstream.url, 'env:ECHO_KEY'),
        {
          name: 'vault',
          upstream: upstream.url,
          attributes: { sensitivity: 'high', environment: 'prod', audience: 'human' },
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:ECHO_KEY', ttl: 300 },
        },
      ],
    });
    token = await escrow.token();
    task = await escrow.openTask(token, ['echo']);
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const call = (path: string, init: RequestInit = {}, headers: Record<string, string> = {}) =>
    fetch(`${escrow.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task, ...headers },
    });

  it('injects the key upstream and never forwards the agent token', async () => {
    const before = upstream.requests.length;
    const res = await call('/echo/v1/items?limit=2');
    expect(res.status).toBe(200);
    const seen = upstream.requests[before]!;
    expect(seen.url).toBe('/v1/items?limit=2');
    expect(seen.headers['x-api-key']).toBe(CANARY);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers['x-escrow-task']).toBeUndefined();
    expect(JSON.stringify(seen.rawHeaders)).not.toContain(token);
  });

  it('scrubs the key from a response that echoes it', async () => {
    const res = await call('/echo/reflect');
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain(Buffer.from(CANARY).toString('base64'));
    expect(text).toContain('*'.repeat(CANARY.length));
  });

  it('refuses with 403 and never calls the upstream when policy denies', async () => {
    const before = upstream.requests.length;
    const res = await call('/vault/secrets', {}, {});
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(upstream.requests.length).toBe(before);
  });

  it('keeps the injected key when the agent names it in Connection', async () => {
    const before = upstream.requests.length;
    // A raw request: fetch's undici either drops `connection` or refuses it, depending on which undici installed the
    // global dispatcher first, so the header would not reliably reach Escrow.
    const res = await rawGet(Number(new URL(escrow.url).port), '/echo/x', {
      authorization: `Bearer ${token}`,
      'x-escrow-task': task,
      connection: 'x-api-key',
      'x-api-key': 'agent-supplied',
    });
    expect(res.status).toBe(200);
    expect(upstream.requests[before]!.headers['x-api-key']).toBe(CANARY);
  });

  it('rejects a percent-encoded dot segment with 400 before any identity work', async () => {
    const before = upstream.requests.length;
    const res = await rawGet(Number(new URL(escrow.url).port), '/echo/%2e%2e/admin', {
      authorization: `Bearer ${token}`,
      'x-escrow-task': task,
    });
    expect(res.status).toBe(400);
    expect(upstream.requests.length).toBe(before);
  });

  it('answers 404 for an unknown target', async () => {
    expect((await call('/nope/x')).status).toBe(404);
  });

  it('needs a task for a requireTask target', async () => {
    const res = await fetch(`${escrow.url}/echo/x`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe('task_required');
  });

  it('shows the task and its leases without secret values', async () => {
    await call('/echo/warm');
    const res = await fetch(`${escrow.url}/_escrow/tasks/${task}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain(CANARY);
    const body = JSON.parse(text) as { leases: { target: string; state: string }[] };
    expect(body.leases).toEqual([expect.objectContaining({ target: 'echo', state: 'active' })]);
  });
});

describe('closing a task', () => {
  it('refuses the very next request and never reaches the upstream', async () => {
    const upstream = await startUpstream();
    const escrow = await startEscrow({
      env: { K: CANARY },
      targets: [echoTarget(upstream.url, 'env:K')],
    });
    try {
      const token = await escrow.token();
      const task = await escrow.openTask(token, ['echo']);
      const headers = { authorization: `Bearer ${token}`, 'x-escrow-task': task };
      expect((await fetch(`${escrow.url}/echo/a`, { headers })).status).toBe(200);
      const closed = await fetch(`${escrow.url}/_escrow/tasks/${task}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(closed.status).toBe(204);
      const before = upstream.requests.length;
      const res = await fetch(`${escrow.url}/echo/a`, { headers });
      expect(res.status).toBe(403);
      expect(upstream.requests.length).toBe(before);
      const events = await escrow.auditEvents();
      const issued = events.find((e) => e.event === 'lease.issued')!;
      const revoked = events.find((e) => e.event === 'lease.revoked')!;
      expect(revoked.secretFingerprint).toBe(issued.secretFingerprint);
      expect(JSON.stringify(events)).not.toContain(CANARY);
      expect(JSON.stringify(events)).not.toContain(token);
    } finally {
      await escrow.close();
      await upstream.close();
    }
  });
});
