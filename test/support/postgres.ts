import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The machine's PostgreSQL (CI starts it): superuser `postgres`, trust auth on loopback. */
export const PG_URL = process.env.ESCROW_TEST_PG ?? 'postgres://127.0.0.1:5432';
export const PG_SUPERUSER = process.env.ESCROW_TEST_PG_USER ?? 'postgres';

const q = pg.escapeIdentifier;

/** A superuser client for setup, checks and clean-up. */
export async function superuser(database = 'postgres', url = PG_URL): Promise<pg.Client> {
  const { hostname, port } = new URL(url);
  const client = new pg.Client({ host: hostname, port: Number(port || 5432), user: PG_SUPERUSER, database });
  await client.connect();
  return client;
}

/** A test's own names: a database and two template roles (read-only and read-write), all with a random suffix. */
export interface PgFixture {
  readonly suffix: string;
  readonly database: string;
  readonly readOnly: string;
  readonly readWrite: string;
  /** The prefix of the lease roles this test's adapters create. */
  readonly rolePrefix: string;
  /** Lease roles (by this test's prefix) that exist now. */
  leaseRoles(): Promise<string[]>;
  /** Run SQL as the superuser in the test database. */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  drop(): Promise<void>;
}

/**
 * Create a database with a table `items(id int, name text)` holding two rows, a read-only template (SELECT) and
 * a read-write template (SELECT, INSERT, UPDATE, DELETE). `drop()` removes them and every lease role of the test.
 */
export async function createPgFixture(area: string): Promise<PgFixture> {
  const suffix = randomBytes(4).toString('hex');
  const database = `escrowtest_${area}_${suffix}`;
  const readOnly = `escrowtest_ro_${suffix}`;
  const readWrite = `escrowtest_rw_${suffix}`;
  const rolePrefix = `et${suffix}_`;
  const admin = await superuser();
  try {
    await admin.query(`CREATE DATABASE ${q(database)}`);
    await admin.query(`CREATE ROLE ${q(readOnly)} NOLOGIN`);
    await admin.query(`CREATE ROLE ${q(readWrite)} NOLOGIN`);
  } finally {
    await admin.end();
  }
  const inDb = await superuser(database);
  try {
    await inDb.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
    await inDb.query(`INSERT INTO items VALUES (1, 'one'), (2, 'two')`);
    await inDb.query(`GRANT CONNECT ON DATABASE ${q(database)} TO ${q(readOnly)}, ${q(readWrite)}`);
    await inDb.query(`GRANT SELECT ON items TO ${q(readOnly)}`);
    await inDb.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON items TO ${q(readWrite)}`);
  } finally {
    await inDb.end();
  }
  const leaseRoles = async () => {
    const c = await superuser();
    try {
      const rows = await c.query<{ rolname: string }>(
        'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1',
        [rolePrefix],
      );
      return rows.rows.map((r) => r.rolname);
    } finally {
      await c.end();
    }
  };
  return {
    suffix,
    database,
    readOnly,
    readWrite,
    rolePrefix,
    leaseRoles,
    async sql(text, values) {
      const c = await superuser(database);
      try {
        return await c.query(text, values);
      } finally {
        await c.end();
      }
    },
    async drop() {
      const c = await superuser();
      try {
        await c.query('SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = $1', [database]);
        await c.query(`DROP DATABASE IF EXISTS ${q(database)}`);
        for (const role of await leaseRoles()) await c.query(`DROP ROLE IF EXISTS ${q(role)}`);
        await c.query(`DROP ROLE IF EXISTS ${q(readOnly)}`);
        await c.query(`DROP ROLE IF EXISTS ${q(readWrite)}`);
      } finally {
        await c.end();
      }
    },
  };
}
