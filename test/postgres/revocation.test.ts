import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEscrow } from '../support/escrow.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';

let fx: PgFixture;
let pki: DbPki;
let escrow: TestEscrow & { dbPort: number };

beforeAll(async () => {
  fx = await createPgFixture('revoke');
  pki = createDbPki();
  escrow = await startDbEscrow(pki, { template: fx.readOnly, rolePrefix: fx.rolePrefix });
});
afterAll(async () => {
  await escrow?.close();
  await fx?.drop();
});

interface Live {
  readonly client: pg.Client;
  readonly task: string;
  readonly token: string;
  readonly role: string;
  /** Resolves with the error the client reports when its connection is cut. */
  readonly cut: Promise<{ error: Error & { code?: string } }>;
}

async function liveSession(ttlSeconds?: number): Promise<Live> {
  const token = await escrow.token();
  const task = await escrow.openTask(token, ['db'], 'test', ttlSeconds ? { ttlSeconds } : {});
  const client = agentClient(escrow.dbPort, fx, pki, { user: task, password: token });
  const cut = new Promise<{ error: Error & { code?: string } }>((resolve) => {
    client.on('error', (error) => resolve({ error }));
  });
  await client.connect();
  const role = (await client.query<{ role: string }>('SELECT current_user AS role')).rows[0]!.role;
  return { client, task, token, role, cut };
}

async function backendsOf(role: string): Promise<number> {
  return (await fx.sql<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [role]))
    .rows[0]!.n;
}

describe('closing the task cuts its sessions at once, ends their backends and drops the role', () => {
  it('DELETE /_escrow/tasks/<id> cuts an idle session itself, with 57P01, ahead of the backend kill', async () => {
    const s = await liveSession();
    expect(await backendsOf(s.role)).toBe(1);
    const res = await fetch(`${escrow.url}/_escrow/tasks/${s.task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${s.token}` },
    });
    expect(res.status).toBe(204);
    const { error } = await s.cut;
    expect(error.code).toBe('57P01');
    // A race decided by who cuts first, not by a clock: the close's notice cuts the session in Escrow at once;
    // otherwise the revocation queued by the same close would end the backend, and PostgreSQL's own 57P01 message
    // would arrive instead of this one. (The latency, about 100 ms, is measured by bench/postgres.ts.)
    expect(error.message).toBe('escrow: terminating connection: the task was closed');
    await escrow.gw.revoker.queue.drain();
    expect(await fx.leaseRoles()).toEqual([]);
    expect(await backendsOf(s.role)).toBe(0);
    await s.client.end().catch(() => {});
  });

  it('cuts a session in the middle of a long query, and the query does not run on', async () => {
    const s = await liveSession();
    const query = s.client.query('SELECT pg_sleep(30)').catch((e: unknown) => e as Error & { code?: string });
    await expect
      .poll(
        async () =>
          (
            await fx.sql(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'SELECT pg_sleep%'`,
              [s.role],
            )
          ).rows[0]?.n,
      )
      .toBe(1);
    await escrow.gw.revoker.revokeTask(s.task, 'task_closed');
    expect(((await query) as { code?: string }).code).toBe('57P01');
    await escrow.gw.revoker.queue.drain();
    expect(await backendsOf(s.role)).toBe(0);
    expect(await fx.leaseRoles()).toEqual([]);
  });

  it('a kill switch (revokeWhere) cuts every matching session', async () => {
    const [a, b] = [await liveSession(), await liveSession()];
    const result = await escrow.gw.revoker.revokeWhere((task) => task.id === a.task || task.id === b.task);
    expect(result.tasks).toBe(2);
    expect((await a.cut).error.code).toBe('57P01');
    expect((await b.cut).error.code).toBe('57P01');
    await escrow.gw.revoker.queue.drain();
    expect(await fx.leaseRoles()).toEqual([]);
  });

  it('the task’s expiry cuts the session; the sweep then drops the role', async () => {
    const s = await liveSession(2);
    const { error } = await s.cut;
    expect(error.code).toBe('57P01');
    expect(error.message).toBe('escrow: terminating connection: the task expired');
    await expect.poll(() => escrow.gw.revoker.sweepExpired(), { timeout: 10_000 }).toBeGreaterThan(0);
    await escrow.gw.revoker.queue.drain();
    expect(await fx.leaseRoles()).toEqual([]);
  });

  it('a session is one of its task’s live connections: a `*` notice cuts it as it cuts every other', async () => {
    const s = await liveSession();
    // The same registry as HTTP streams, WebSockets and MCP streams (gateway/connections.ts), so the same cuts.
    expect(escrow.gw.connections.countFor(s.task)).toBe(1);
    await escrow.gw.store.revocations.publish('*');
    expect((await s.cut).error.code).toBe('57P01');
    expect(await escrow.gw.tasks.get(s.task)).not.toBeNull();
    await expect.poll(() => escrow.gw.connections.countFor(s.task)).toBe(0);
  });

  it('a connection admitted while its task is being closed is cut, not left running', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const client = agentClient(escrow.dbPort, fx, pki, { user: task, password: token });
    const cut = new Promise<Error & { code?: string }>((resolve) => client.on('error', resolve));
    // Close the task from inside the lease stage: after admission read the task, before the session registered.
    const leases = escrow.gw.leases;
    const acquire = leases.acquire.bind(leases);
    leases.acquire = async (req) => {
      const lease = await acquire(req);
      // What the notice does on this replica: the record is gone and the cached task dropped, while the session
      // is not registered yet (so the notice finds nothing to cut).
      await escrow.gw.store.tasks.delete(task);
      escrow.gw.tasks.cache.delete(task);
      leases.acquire = acquire;
      return lease;
    };
    // Cut right after the hello: the client sees it either as a failed connect or as the connection's error.
    const failedConnect = client.connect().then(
      () => cut,
      (e: unknown) => e as Error & { code?: string },
    );
    expect((await failedConnect).code).toBe('57P01');
    await escrow.gw.revoker.revokeTask(task, 'task_closed');
  });
});
