import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, fetch as tlsFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type TestCert, TestPki } from '../identity/certs.js';
import { cliCommand } from '../support/cli.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
/** Node's arguments that run the CLI (test/support/cli.ts). */
const CLI = cliCommand();
const KEY = 'canary-admin-auth-3f9e1b';

const echo = (upstream: string) => ({
  name: 'echo',
  upstream,
  attributes: { sensitivity: 'low', environment: 'dev' },
  credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
});

/** Issue #15, failure 8: the admin credential as a client certificate, and the CLI needing only the admin section. */
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
      ...CLI,
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
      [...CLI, 'revoke', '--target', 'echo', '--config', join(dir, 'escrow.yaml'), '--json'],
      { env },
    );
    expect(JSON.parse(revoked.stdout)).toEqual({ tasks: 0, leases: 0 });
    const listed = await run(
      process.execPath,
      [...CLI, 'tasks', 'list', '--config', join(dir, 'escrow.yaml'), '--json'],
      {
        env,
      },
    );
    expect(JSON.parse(listed.stdout)).toEqual({ tasks: [] });
  });

  it('takes the address and token from flags or the environment, and says what is missing on 401', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'escrow-cli-'));
    writeFileSync(join(dir, 'token'), `${escrow.adminToken}\n`);
    const byFlag = await run(process.execPath, [
      ...CLI,
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
    expect((await run(process.execPath, [...CLI, 'revoke', '--all', '--json'], { env })).stdout).toContain('"tasks"');
    const refused = run(process.execPath, [...CLI, 'revoke', '--all', '--admin', escrow.adminUrl], {
      env: { PATH: env.PATH },
    });
    await expect(refused).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('401') });
  });
});
