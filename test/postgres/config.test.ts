import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../gateway/config/load.js';
import { EscrowError } from '../../gateway/errors.js';
import { reloadConfig } from '../../gateway/reload.js';
import { startEscrow } from '../support/escrow.js';
import { DB_POLICIES } from '../support/postgres-escrow.js';

const base = {
  keys: { leaseEncryption: 'env:LK', auditHmac: 'env:AK' },
  identity: { issuers: [{ name: 't', principal: 'Agent', issuer: 'https://i', audience: 'escrow', jwks: 'file:./j' }] },
};

const credential = { adapter: 'postgres', template: 'reader', adminUsername: 'escrow_admin' };
const tls = { cert: 'file:c.pem', key: 'file:k.pem' };

function errorOf(target: Record<string, unknown>): string {
  try {
    parseConfig(stringify({ ...base, targets: [{ name: 'db', credential, ...target }] }), 'test.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(EscrowError);
    return (error as EscrowError).message;
  }
  return '';
}

describe('a postgres target’s config is checked at start, naming the path', () => {
  const good = { protocol: 'postgres', listen: '127.0.0.1:6432', upstream: 'postgres://db:5432', postgres: { tls } };

  it('accepts a complete target, with defaults for the listener limits', () => {
    expect(errorOf(good)).toBe('');
    const config = parseConfig(stringify({ ...base, targets: [{ name: 'db', credential, ...good }] }), 'x');
    expect(config.targets[0]?.postgres).toMatchObject({
      maxConnections: 100,
      startupTimeoutMs: 10_000,
      allowPlaintext: false,
    });
  });

  it.each([
    [{ listen: undefined }, 'targets[0].listen: required'],
    [{ postgres: undefined }, 'targets[0].postgres.tls: required'],
    [{ upstream: 'http://db:5432' }, 'targets[0].upstream: must be a postgres://host:port URL'],
    [{ upstream: 'postgres://u:p@db:5432' }, 'targets[0].upstream: must not carry userinfo'],
    [{ upstream: 'postgres://db:5432/app' }, 'targets[0].upstream: must not carry a database'],
    [{ requireTask: false }, 'targets[0].requireTask: a postgres target needs a task'],
    [{ websocket: true }, 'targets[0].websocket: not for protocol: postgres'],
    [
      { listen: '0.0.0.0:6432', postgres: { allowPlaintext: true } },
      'targets[0].postgres.allowPlaintext: only on a loopback',
    ],
    [{ postgres: { tls, notAKey: 1 } }, 'targets[0].postgres.notAKey: unknown key'],
    [
      { postgres: { tls: { cert: '-----BEGIN', key: 'file:k' } } },
      'targets[0].postgres.tls.cert: must be a secret reference',
    ],
  ])('refuses %o', (patch, message) => {
    expect(errorOf({ ...good, ...patch })).toContain(message);
  });

  it('refuses listen and postgres keys on an http target', () => {
    const http = { upstream: 'http://127.0.0.1:1', credential: { adapter: 'header', header: 'x', value: 'env:X' } };
    expect(errorOf({ ...http, listen: '127.0.0.1:1' })).toContain(
      'targets[0].listen: only a protocol: postgres target',
    );
    expect(errorOf({ ...http, postgres: { tls } })).toContain('targets[0].postgres: only for protocol: postgres');
  });

  it('refuses the postgres adapter on an http target at start', async () => {
    const error = await startEscrow({
      store: 'memory',
      targets: [
        {
          name: 'db',
          upstream: 'http://127.0.0.1:1',
          credential: { ...credential, adminUrl: 'postgres://127.0.0.1:1' },
        },
      ],
    }).catch((e: unknown) => e as Error);
    expect((error as Error).message).toBe('targets[0].credential.adapter: postgres needs protocol: postgres');
  });

  it('refuses it on a SIGHUP too: the reload is rejected and the running adapter stays', async () => {
    const escrow = await startEscrow({
      store: 'memory',
      env: { RELOAD_PG_KEY: 'canary-reload-pg-key' },
      targets: [
        {
          name: 'db',
          upstream: 'http://127.0.0.1:1',
          credential: { adapter: 'header', header: 'x', value: 'env:RELOAD_PG_KEY' },
        },
      ],
    });
    try {
      const path = join(escrow.dir, 'escrow.yaml');
      const config = parse(readFileSync(path, 'utf8')) as { targets: Record<string, unknown>[] };
      const targets = config.targets.map((t) => ({
        ...t,
        credential: { ...credential, adminUrl: 'postgres://127.0.0.1:1' },
      }));
      writeFileSync(path, stringify({ ...config, targets }));
      const result = await reloadConfig(escrow.gw, path, { ...process.env, RELOAD_PG_KEY: 'canary-reload-pg-key' });
      expect(result).toMatchObject({ outcome: 'rejected' });
      expect(JSON.stringify(result)).toContain('targets[0].credential.adapter: postgres needs protocol: postgres');
      expect(escrow.gw.targets.get('db')!.adapter.kind).toBe('header');
    } finally {
      await escrow.close();
    }
  });

  it('a postgres target is not reachable over the HTTP proxy (404, nothing forwarded)', async () => {
    const escrow = await startEscrow({
      store: 'memory',
      policies: DB_POLICIES,
      targets: [
        {
          name: 'db',
          ...good,
          listen: '127.0.0.1:0',
          postgres: { allowPlaintext: true },
          upstream: 'postgres://127.0.0.1:1',
          credential,
        },
      ],
    });
    try {
      const token = await escrow.token();
      const task = await escrow.openTask(token, ['db']);
      const res = await fetch(`${escrow.url}/db/anything`, {
        headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
      });
      expect(res.status).toBe(404);
    } finally {
      await escrow.close();
    }
  });
});
