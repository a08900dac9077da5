import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEscrow } from '../support/escrow.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';
import { CANCEL_REQUEST, packet, RawClient } from './support/wire.js';

let fx: PgFixture;
let pki: DbPki;
let escrow: TestEscrow & { dbPort: number };

beforeAll(async () => {
  fx = await createPgFixture('cancel');
  pki = createDbPki();
  escrow = await startDbEscrow(pki, { template: fx.readOnly, rolePrefix: fx.rolePrefix });
});
afterAll(async () => {
  await escrow?.close();
  await fx?.drop();
});

type KeyedClient = pg.Client & { processID: number; secretKey: number };

async function session(): Promise<{ client: KeyedClient; role: string }> {
  const token = await escrow.token();
  const client = agentClient(escrow.dbPort, fx, pki, {
    user: await escrow.openTask(token, ['db']),
    password: token,
  }) as KeyedClient;
  await client.connect();
  const role = (await client.query<{ r: string }>('SELECT current_user AS r')).rows[0]!.r;
  return { client, role };
}

/** A CancelRequest as a client sends it: a new (plain) connection to the listener, then close. */
async function cancel(processId: number, secretKey: number): Promise<void> {
  const raw = await RawClient.connect(escrow.dbPort);
  const body = Buffer.alloc(8);
  body.writeInt32BE(processId, 0);
  body.writeInt32BE(secretKey, 4);
  raw.socket.write(packet(CANCEL_REQUEST, body));
  expect((await raw.closed).length).toBe(0); // as PostgreSQL: no answer either way
}

async function running(role: string): Promise<number> {
  const rows = await fx.sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'SELECT pg_sleep%' AND state = 'active'`,
    [role],
  );
  return rows.rows[0]!.n;
}

const cancels = async (result: string) =>
  Number(
    new RegExp(`escrow_postgres_cancel_requests_total\\{target="db",result="${result}"\\} (\\d+)`).exec(
      await escrow.gw.metrics.exposition(),
    )?.[1],
  );

describe('cancel requests reach only the session they name', () => {
  it('the client holds Escrow’s own backend key, never the server’s', async () => {
    const { client } = await session();
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    expect(client.processID).not.toBe(backend);
    await client.end();
  });

  it('a cancel with the session’s key cancels its running query (57014); the session stays usable', async () => {
    const { client, role } = await session();
    const query = client.query('SELECT pg_sleep(30)').catch((e: unknown) => e as { code?: string });
    await expect.poll(() => running(role)).toBe(1);
    await cancel(client.processID, client.secretKey);
    expect(((await query) as { code?: string }).code).toBe('57014');
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  });

  it('a cancel with the right process id but a wrong secret is ignored: the query runs on', async () => {
    const { client, role } = await session();
    const query = client.query('SELECT pg_sleep(30)').catch((e: unknown) => e as { code?: string });
    await expect.poll(() => running(role)).toBe(1);
    const ignored = await cancels('ignored');
    await cancel(client.processID, client.secretKey ^ 1);
    await cancel(client.processID + 1, client.secretKey);
    await expect.poll(() => cancels('ignored')).toBe(ignored + 2);
    expect(await running(role)).toBe(1);
    await cancel(client.processID, client.secretKey);
    expect(((await query) as { code?: string }).code).toBe('57014');
    await client.end();
  });
});
