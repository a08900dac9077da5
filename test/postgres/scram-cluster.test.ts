import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestPki } from '../identity/certs.js';
import type { TestEscrow } from '../support/escrow.js';
import { type PgCluster, startPgCluster } from '../support/pg-cluster.js';
import { agentClient, createDbPki, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';

const DATABASE = 'escrowtest_appdb'; // the test policies allow escrowtest_* databases
const TEMPLATE = 'app_reader';
const PREFIX = 'esc_';

let cluster: PgCluster;
let serverCa: string;
let pki: DbPki;
let escrow: TestEscrow & { dbPort: number };

function clusterClient(user: string, password: string, database = DATABASE): pg.Client {
  return new pg.Client({
    host: '127.0.0.1',
    port: cluster.port,
    user,
    password,
    database,
    ssl: { ca: serverCa },
    connectionTimeoutMillis: 5_000,
  });
}

async function asSuperuser<T>(work: (c: pg.Client) => Promise<T>, database = DATABASE): Promise<T> {
  const c = clusterClient(cluster.superuser, cluster.password, database);
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

const leaseRoles = () =>
  asSuperuser(
    async (c) => (await c.query(`SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, [PREFIX])).rows,
  );

beforeAll(async () => {
  const serverPki = new TestPki();
  const ca = serverPki.ca('pg-ca');
  serverCa = ca.cert;
  const server = serverPki.leaf('pg-server', 'pg-ca', [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1',
  ]);
  cluster = await startPgCluster(server);
  await asSuperuser(async (c) => {
    await c.query(`CREATE DATABASE ${DATABASE}`);
    await c.query(`CREATE ROLE ${TEMPLATE} NOLOGIN`);
  }, 'postgres');
  await asSuperuser(async (c) => {
    await c.query('CREATE TABLE notes (body text)');
    await c.query(`INSERT INTO notes VALUES ('hello')`);
    await c.query(`GRANT SELECT ON notes TO ${TEMPLATE}`);
  });
  pki = createDbPki();
  escrow = await startDbEscrow(
    pki,
    {
      template: TEMPLATE,
      rolePrefix: PREFIX,
      upstream: cluster.url,
      postgres: { upstreamTls: { ca: 'file:pg-ca.pem' } },
      credential: { adminUsername: cluster.superuser, adminPassword: 'env:PG_ADMIN', tls: { ca: 'file:pg-ca.pem' } },
    },
    {
      env: { PG_ADMIN: cluster.password },
      configure: (dir) => {
        writeFileSync(join(dir, 'pg-ca.pem'), serverCa);
        return {};
      },
    },
  );
}, 120_000);

afterAll(async () => {
  await escrow?.close();
  cluster?.destroy();
});

describe('against a server that checks passwords (SCRAM-SHA-256 over TLS only)', () => {
  it('the agent’s session logs in as the lease role with SCRAM, over verified TLS', async () => {
    expect(escrow.gw.targets.get('db')?.config.upstream).toBe(cluster.url);
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const client = agentClient(escrow.dbPort, { database: DATABASE } as never, pki, { user: task, password: token });
    await client.connect();
    const row = (
      await client.query(
        'SELECT current_user AS role, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl, body FROM notes',
      )
    ).rows[0];
    expect(row).toMatchObject({ ssl: true, body: 'hello' });
    expect(row.role).toMatch(/^esc_[0-9a-f]{24}$/);
    // The role's password is really checked: a wrong one is refused by the server itself.
    const wrong = await clusterClient(row.role, 'not-the-password')
      .connect()
      .catch((e: unknown) => e as { code?: string });
    expect((wrong as { code?: string }).code).toBe('28P01');
    await client.end();
  });

  it('the revocation queue drops the role once the server is back, after failing while it was away', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const client = agentClient(escrow.dbPort, { database: DATABASE } as never, pki, { user: task, password: token });
    const ended = new Promise((resolve) => client.on('error', resolve));
    await client.connect();
    const role = (await client.query<{ r: string }>('SELECT current_user AS r')).rows[0]!.r;
    expect(await leaseRoles()).toContainEqual({ rolname: role });
    cluster.stop();
    await ended; // the server went away under the session: the relay ended it
    const adapter = escrow.gw.targets.get('db')!.adapter as { revoke: (c: never) => Promise<void> };
    const revoke = adapter.revoke.bind(adapter);
    const attempts = { made: 0, failed: 0 };
    adapter.revoke = (credential) => {
      attempts.made++;
      return revoke(credential).catch((error: unknown) => {
        attempts.failed++;
        throw error;
      });
    };
    const closed = await fetch(`${escrow.url}/_escrow/tasks/${task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(closed.status).toBe(204);
    await expect.poll(() => attempts.failed, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(escrow.gw.revoker.queue.pending).toBe(1); // waiting to retry, not given up
    cluster.start();
    await escrow.gw.revoker.queue.drain();
    expect(attempts.made).toBe(attempts.failed + 1);
    expect(await leaseRoles()).not.toContainEqual({ rolname: role });
    adapter.revoke = revoke;
  }, 60_000);
});
