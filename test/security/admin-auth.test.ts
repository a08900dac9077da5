import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Agent, fetch as tlsFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type TestCert, TestPki } from '../identity/certs.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, '../../dist/gateway/cli.js');
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
      expect(res.headers.get('content-type')).toBe('application/problem+json');
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

describe('the admin API accepts a client certificate from admin.clientCA over TLS', () => {
  const pki = new TestPki();
  let server: TestCert;
  let operator: TestCert;
  let stranger: TestCert;
  let ca: TestCert;
  let upstream: TestUpstream;
  let escrow: TestEscrow;

  beforeAll(async () => {
    ca = pki.ca('admin-ca');
    pki.ca('rogue-ca');
    server = pki.leaf('admin-server', 'admin-ca', ['subjectAltName=IP:127.0.0.1', 'extendedKeyUsage=serverAuth']);
    operator = pki.leaf('operator', 'admin-ca', ['extendedKeyUsage=clientAuth']);
    stranger = pki.leaf('stranger', 'rogue-ca', ['extendedKeyUsage=clientAuth']);
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { KEY },
      targets: [echo(upstream.url)],
      configure: (dir) => {
        writeFileSync(join(dir, 'admin.pem'), server.cert);
        writeFileSync(join(dir, 'admin-key.pem'), server.key);
        writeFileSync(join(dir, 'admin-ca.pem'), ca.cert);
        return {
          admin: {
            listen: '127.0.0.1:0',
            cert: 'file:admin.pem',
            key: 'file:admin-key.pem',
            clientCA: 'file:admin-ca.pem',
          },
        };
      },
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const over = (client?: TestCert) =>
    new Agent({ connect: { ca: ca.cert, ...(client ? { cert: client.cert, key: client.key } : {}) } });
  const url = () => escrow.adminUrl.replace('http:', 'https:');

  it('lets an operator certificate in, and refuses none or one from another CA; probes need none', async () => {
    expect((await tlsFetch(`${url()}/admin/tasks`, { dispatcher: over(operator) })).status).toBe(200);
    expect((await tlsFetch(`${url()}/admin/tasks`, { dispatcher: over() })).status).toBe(401);
    expect((await tlsFetch(`${url()}/admin/tasks`, { dispatcher: over(stranger) })).status).toBe(401);
    expect((await tlsFetch(`${url()}/healthz`, { dispatcher: over() })).status).toBe(200);
  });

  it('works from the CLI with --cert/--key/--ca', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'escrow-cli-'));
    for (const [name, text] of Object.entries({
      'op.pem': operator.cert,
      'op-key.pem': operator.key,
      'ca.pem': ca.cert,
    })) {
      writeFileSync(join(dir, name), text);
    }
    const { stdout } = await run(process.execPath, [
      CLI,
      'revoke',
      '--all',
      '--admin',
      url(),
      '--cert',
      join(dir, 'op.pem'),
      '--key',
      join(dir, 'op-key.pem'),
      '--ca',
      join(dir, 'ca.pem'),
      '--json',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ tasks: expect.any(Number) });
  });
});

describe('`escrow revoke` and `escrow tasks` need only the admin address and credential', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({ env: { KEY }, targets: [echo(upstream.url)] });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('reads only the admin section of --config: every other secret may be unset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'escrow-cli-'));
    writeFileSync(join(dir, 'admin.token'), escrow.adminToken);
    const config = {
      admin: { listen: new URL(escrow.adminUrl).host, token: 'file:admin.token' },
      store: 'redis://unreachable.invalid:6379/0',
      keys: { leaseEncryption: 'env:ESCROW_TEST_UNSET_LEASE', auditHmac: 'env:ESCROW_TEST_UNSET_AUDIT' },
      identity: { issuers: [] },
      targets: [{ ...echo(upstream.url), credential: { adapter: 'header', header: 'x', value: 'env:UNSET_X' } }],
    };
    writeFileSync(join(dir, 'escrow.yaml'), stringify(config));
    const env = { PATH: process.env.PATH ?? '' };
    const revoked = await run(
      process.execPath,
      [CLI, 'revoke', '--target', 'echo', '--config', join(dir, 'escrow.yaml'), '--json'],
      { env },
    );
    expect(JSON.parse(revoked.stdout)).toEqual({ tasks: 0, leases: 0 });
    const listed = await run(process.execPath, [CLI, 'tasks', 'list', '--config', join(dir, 'escrow.yaml'), '--json'], {
      env,
    });
    expect(JSON.parse(listed.stdout)).toEqual({ tasks: [] });
  });

  it('takes the address and token from flags or the environment, and says what is missing on 401', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'escrow-cli-'));
    writeFileSync(join(dir, 'token'), `${escrow.adminToken}\n`);
    const byFlag = await run(process.execPath, [
      CLI,
      'tasks',
      'list',
      '--admin',
      escrow.adminUrl,
      '--token-file',
      join(dir, 'token'),
    ]);
    expect(byFlag.stdout).toContain('(no live tasks)');
    const env = {
      PATH: process.env.PATH ?? '',
      ESCROW_ADMIN_URL: escrow.adminUrl,
      ESCROW_ADMIN_TOKEN: escrow.adminToken,
    };
    expect((await run(process.execPath, [CLI, 'revoke', '--all', '--json'], { env })).stdout).toContain('"tasks"');
    const refused = run(process.execPath, [CLI, 'revoke', '--all', '--admin', escrow.adminUrl], {
      env: { PATH: env.PATH },
    });
    await expect(refused).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('401') });
  });
});
