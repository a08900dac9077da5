import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../reliability/support/ports.js';
import { cliCommand, REPO_ROOT } from '../support/cli.js';
import { createIssuerKeys, TEST_IDENTITY } from '../support/keys.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `escrow check` as a real process. */
function check(config: string, ...flags: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...cliCommand(), 'check', '--config', config, ...flags],
      { cwd: REPO_ROOT, env: { ...process.env, H16_KEY: 'k' }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

/**
 * `escrow check` said OK with a JWKS port closed; then `start` ran and every token got 401. It now fetches every
 * JWKS URL and discovery document (files are read as before), says which it could not, and exits 1.
 */
describe('escrow check fetches every remote key set and names the ones it could not read', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let closed: number;
  const LEAKY = `canary-${randomBytes(4).toString('hex')}`;

  function config(name: string, issuer: Record<string, unknown>): string {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(
      path,
      stringify({
        store: 'memory://',
        keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
        identity: { issuers: [{ ...TEST_IDENTITY.issuers[0], ...issuer }] },
        policies: join(REPO_ROOT, 'policies'),
        targets: [
          {
            name: 'echo',
            upstream: 'http://127.0.0.1:9',
            credential: { adapter: 'header', header: 'x-api-key', value: 'env:H16_KEY' },
          },
        ],
      }),
    );
    return path;
  }

  beforeAll(async () => {
    const keys = await createIssuerKeys();
    dir = mkdtempSync(join(tmpdir(), 'escrow-check-'));
    writeFileSync(join(dir, 'lease.key'), randomBytes(32).toString('base64'));
    writeFileSync(join(dir, 'audit.key'), randomBytes(32).toString('base64'));
    server = createServer((req, res) => {
      const json = (body: unknown) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.url === '/keys') return json(keys.jwks);
      if (req.url === '/good/.well-known/openid-configuration')
        return json({ issuer: `${base}/good`, jwks_uri: `${base}/keys` });
      if (req.url === '/other/.well-known/openid-configuration')
        return json({ issuer: 'https://elsewhere', jwks_uri: `${base}/keys` });
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    closed = await freePort();
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes when the JWKS URL answers', async () => {
    const run = await check(config('up', { jwks: `${base}/keys` }));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK: 1 target\(s\), 1 issuer\(s\), \d+ policies/);
  });

  it('fails with exit 1 when the JWKS port is closed, naming the issuer, the URL and the reason', async () => {
    const run = await check(config('closed', { jwks: `http://127.0.0.1:${closed}/keys` }));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `escrow: identity issuer test: cannot read its keys from http://127.0.0.1:${closed}/keys: fetch failed: connect ECONNREFUSED 127.0.0.1:${closed}\n`,
    );
  });

  it('follows OIDC discovery to the keys, and refuses a discovery document that names another issuer', async () => {
    const good = await check(config('discovery', { issuer: `${base}/good`, jwks: 'discovery' }));
    expect(good.code, good.stderr).toBe(0);
    const other = await check(config('other', { issuer: `${base}/other`, jwks: 'discovery' }));
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`cannot read its keys from ${base}/other/.well-known/openid-configuration`);
    expect(other.stderr).toContain('discovery document names another issuer');
  });

  it('never prints a credential that a key set URL carries: userinfo is refused, a query is cut out', async () => {
    const userinfo = await check(config('userinfo', { jwks: `http://reader:${LEAKY}@127.0.0.1:${closed}/keys` }));
    expect(userinfo.code).toBe(2);
    expect(userinfo.stderr).toContain('identity.issuers[0].jwks: must not carry userinfo');
    expect(userinfo.stderr).not.toContain(LEAKY);
    const query = await check(config('query', { jwks: `http://127.0.0.1:${closed}/keys?token=${LEAKY}` }));
    expect(query.code).toBe(1);
    expect(query.stderr).toContain(`http://127.0.0.1:${closed}/keys`);
    expect(query.stderr).not.toContain(LEAKY);
  });

  it('with --offline reads files only, says what it skipped, and exits 0', async () => {
    const run = await check(config('offline', { jwks: `http://127.0.0.1:${closed}/keys` }), '--offline');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('(1 remote key set(s) not fetched: --offline)');
  });

  it('reports each key set in --json', async () => {
    const run = await check(config('json', { jwks: `http://127.0.0.1:${closed}/keys` }), '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      ok: false,
      keySets: [
        {
          issuer: 'test',
          state: 'never_loaded',
          source: `http://127.0.0.1:${closed}/keys`,
          error: expect.stringContaining('ECONNREFUSED'),
        },
      ],
    });
  });
});
