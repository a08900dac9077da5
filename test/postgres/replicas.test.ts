import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EscrowProcess, spawnEscrow } from '../replicas/support/process.js';
import { REPO_POLICIES } from '../support/escrow.js';
import { createIssuerKeys, type IssuerKeys, signToken } from '../support/keys.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, DB_POLICIES, type DbPki, dbTarget } from '../support/postgres-escrow.js';
import { deletePrefix, testPrefix } from '../support/redis.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('two Escrow processes share the revocation of database sessions', () => {
  const prefix = testPrefix('pg-replicas');
  const dir = mkdtempSync(join(tmpdir(), 'escrow-pg-replicas-'));
  let fx: PgFixture;
  let pki: DbPki;
  let keys: IssuerKeys;
  let a: EscrowProcess;
  let b: EscrowProcess;
  const ports: number[] = [];

  beforeAll(async () => {
    fx = await createPgFixture('replicas');
    pki = createDbPki();
    keys = await createIssuerKeys();
    writeFileSync(join(dir, 'db-server.pem'), pki.server.cert);
    writeFileSync(join(dir, 'db-server.key'), pki.server.key);
    writeFileSync(join(dir, 'db-ca.pem'), pki.ca.cert);
    cpSync(join(REPO_POLICIES, 'schema.cedarschema'), join(dir, 'policies', 'schema.cedarschema'), { recursive: true });
    for (const [name, text] of Object.entries(DB_POLICIES)) writeFileSync(join(dir, 'policies', name), text);
    const secrets = { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') };
    const replica = async () => {
      const port = await freePort();
      ports.push(port);
      const target = dbTarget({ template: fx.readOnly, rolePrefix: fx.rolePrefix, listen: `127.0.0.1:${port}` });
      const postgres = target.postgres as { tls: Record<string, string> };
      postgres.tls = {
        cert: `file:${join(dir, 'db-server.pem')}`,
        key: `file:${join(dir, 'db-server.key')}`,
        clientCA: `file:${join(dir, 'db-ca.pem')}`,
      };
      return spawnEscrow({ prefix, keys, secrets, targets: [target], config: { policies: join(dir, 'policies') } });
    };
    [a, b] = await Promise.all([replica(), replica()]);
  }, 60_000);

  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()]);
    await deletePrefix(prefix);
    await fx?.drop();
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual([0, 0]);
  });

  it('a task closed on replica A cuts its session on replica B, and the role is dropped', async () => {
    const token = await signToken(keys);
    const opened = await fetch(`${a.url}/_escrow/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'cross-replica', targets: ['db'] }),
    });
    const task = ((await opened.json()) as { id: string }).id;
    const clients: pg.Client[] = [];
    const cuts: Promise<{ code?: string }>[] = [];
    for (const port of ports) {
      const client = agentClient(port, fx, pki, { user: task, password: token });
      cuts.push(new Promise((resolve) => client.on('error', (e: Error & { code?: string }) => resolve(e))));
      await client.connect();
      clients.push(client);
    }
    const roles = await Promise.all(clients.map(async (c) => (await c.query('SELECT current_user AS r')).rows[0].r));
    expect(roles[0]).toBe(roles[1]); // one role per (task, target), whichever replica issued it
    const closed = await fetch(`${a.url}/_escrow/tasks/${task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(closed.status).toBe(204);
    const errors = await Promise.all(cuts);
    expect(errors.map((e) => e.code)).toEqual(['57P01', '57P01']);
    await expect.poll(() => fx.leaseRoles(), { timeout: 10_000 }).toEqual([]);
    for (const client of clients) await client.end().catch(() => {});
  });

  it('a task closed through replica A is refused at replica B’s listener (28000)', async () => {
    const token = await signToken(keys);
    const opened = await fetch(`${b.url}/_escrow/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'cross-replica', targets: ['db'] }),
    });
    const task = ((await opened.json()) as { id: string }).id;
    await fetch(`${a.url}/_escrow/tasks/${task}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    const client = agentClient(ports[1]!, fx, pki, { user: task, password: token });
    const error = (await client.connect().catch((e: unknown) => e)) as { code?: string };
    expect(error.code).toBe('28000');
  });
});
