import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../gateway/config/load.js';
import { ensureDevMaterial } from '../../../gateway/dev/material.js';
import { restartPaths } from '../../../gateway/reload.js';

// The dev config, copied where its `../../.escrow-dev` references resolve to dev material of this test's own.
const root = mkdtempSync(join(tmpdir(), 'escrow-overrides-'));
const DEV = join(root, 'examples', 'dev', 'escrow.yaml');
const PLAIN = join(root, 'plain.yaml');
const unset = { ESCROW_LISTEN: '', ESCROW_ADMIN_LISTEN: '', ESCROW_UPSTREAM_PORT: '' };

beforeAll(async () => {
  mkdirSync(join(root, 'examples', 'dev'), { recursive: true });
  copyFileSync(resolve(import.meta.dirname, '../../../examples/dev/escrow.yaml'), DEV);
  await ensureDevMaterial(join(root, '.escrow-dev'));
  writeFileSync(
    PLAIN,
    `keys: { leaseEncryption: file:.escrow-dev/lease.key, auditHmac: file:.escrow-dev/audit.key }
identity: { issuers: [{ name: t, principal: Agent, issuer: https://i, audience: escrow, jwks: file:./jwks.json }] }
targets: [{ name: a, upstream: "http://127.0.0.1:9001", credential: { adapter: header, header: x-k, value: env:X } }]
`,
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function load(path: string, env: Record<string, string>) {
  return loadConfig(path, { ...process.env, ...unset, ...env }).config;
}

function errorOf(path: string, env: Record<string, string>): string {
  try {
    load(path, env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a config error');
}

// `npm start` could not move off 8080/9090/9001 without copying the example config. The listeners and the
// demo upstream move with ESCROW_LISTEN / ESCROW_ADMIN_LISTEN / ESCROW_UPSTREAM_PORT (`escrow start
// --listen/--admin/--upstream-port` set them), applied before validation by every command that loads a config.
describe('listeners and the demo upstream move without editing the config', () => {
  it('moves proxy.listen, admin.listen and every target of the demo upstream', () => {
    const config = load(DEV, {
      ESCROW_LISTEN: '127.0.0.1:18080',
      ESCROW_ADMIN_LISTEN: '127.0.0.1:19090',
      ESCROW_UPSTREAM_PORT: '19001',
    });
    expect(config.proxy.listen).toBe('127.0.0.1:18080');
    expect(config.admin.listen).toBe('127.0.0.1:19090');
    expect(config.targets.map((t) => t.upstream)).toEqual(['http://127.0.0.1:19001', 'http://127.0.0.1:19001/ledger']);
  });

  it('leaves the config alone when nothing is set', () => {
    const config = load(DEV, {});
    expect([config.proxy.listen, config.admin.listen]).toEqual(['127.0.0.1:8080', '127.0.0.1:9090']);
    expect(config.targets[0]!.upstream).toBe('http://127.0.0.1:9001');
  });

  it('names the variable and the flag of a bad value', () => {
    expect(errorOf(DEV, { ESCROW_LISTEN: 'not an address' })).toBe('ESCROW_LISTEN (or --listen): must be host:port');
    expect(errorOf(DEV, { ESCROW_UPSTREAM_PORT: '70000' })).toBe(
      'ESCROW_UPSTREAM_PORT (or --upstream-port): must be a port number (1–65535)',
    );
  });

  it('refuses to move a demo upstream that a config does not run', () => {
    expect(errorOf(PLAIN, { ESCROW_UPSTREAM_PORT: '19001' })).toBe(
      'ESCROW_UPSTREAM_PORT (or --upstream-port): only a config with dev.demoUpstream: true runs the demo upstream',
    );
  });

  it('reads the same values again on SIGHUP, so a moved listener is not a change that needs a restart', () => {
    const env = { ESCROW_LISTEN: '127.0.0.1:18080', ESCROW_UPSTREAM_PORT: '19001' };
    expect(restartPaths(load(DEV, env), load(DEV, env))).toEqual([]);
  });
});
