import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEscrow } from '../support/escrow.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';

let fx: PgFixture;
let pki: DbPki;
let escrow: TestEscrow & { dbPort: number };

beforeAll(async () => {
  fx = await createPgFixture('errors');
  pki = createDbPki();
  escrow = await startDbEscrow(pki, { template: fx.readOnly, rolePrefix: fx.rolePrefix });
});
afterAll(async () => {
  await escrow?.close();
  await fx?.drop();
});

interface Refusal {
  readonly code?: string;
  readonly message: string;
  readonly severity?: string;
}

/** Connect and expect a refusal: the ErrorResponse a client shows (never a dropped connection). */
async function refusal(login: Parameters<typeof agentClient>[3]): Promise<Refusal> {
  const client = agentClient(escrow.dbPort, fx, pki, login);
  const error = await client.connect().then(
    () => undefined,
    (e: unknown) => e as Refusal,
  );
  await client.end().catch(() => {});
  if (!error) throw new Error('the connection was accepted');
  return error;
}

describe('refused connections get a PostgreSQL ErrorResponse with the right SQLSTATE', () => {
  it('a wrong token: 28P01, and no lease role is created', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const forged = `${token.slice(0, -4)}AAAA`;
    const error = await refusal({ user: task, password: forged });
    expect(error).toMatchObject({ code: '28P01', severity: 'FATAL' });
    expect(error.message).toMatch(/^escrow: the workload identity token signature is invalid/);
    expect(error.message).not.toContain(forged);
    expect(await fx.leaseRoles()).toEqual([]);
  });

  it('an expired token: 28P01', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const expired = await escrow.token({ expiresIn: -120 });
    expect(await refusal({ user: task, password: expired })).toMatchObject({ code: '28P01' });
  });

  it('no password at all: 28P01 (the token is the password)', async () => {
    const task = await escrow.openTask(await escrow.token(), ['db']);
    expect((await refusal({ user: task, password: '' })).code).toMatch(/^28/);
  });

  it('a closed task: 28000, even with a valid token', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const closed = await fetch(`${escrow.url}/_escrow/tasks/${task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(closed.status).toBe(204);
    const error = await refusal({ user: task, password: token });
    expect(error).toMatchObject({ code: '28000', message: 'escrow: the task is unknown, closed or expired' });
  });

  it('a user name that is no task, and another workload’s task: 28000', async () => {
    const token = await escrow.token();
    expect((await refusal({ user: 'postgres', password: token })).code).toBe('28000');
    const theirs = await escrow.openTask(await escrow.token({ sub: 'spiffe://test.example/agent/b' }), ['db']);
    const error = await refusal({ user: theirs, password: token });
    expect(error).toMatchObject({ code: '28000', message: 'escrow: the task belongs to another principal' });
  });

  it('a Cedar deny: 42501 with the decision id in the message', async () => {
    const token = await escrow.token({ sub: 'spiffe://test.example/agent/denied' });
    const task = await escrow.openTask(token, ['db']);
    const error = await refusal({ user: task, password: token });
    expect(error.code).toBe('42501');
    const decisionId = /\(decision (dec_[0-9a-f]+)\)$/.exec(error.message)?.[1];
    expect(decisionId).toBeDefined();
    const denial = (await escrow.auditEvents()).find(
      (e) => e.event === 'connection.refused' && e.decisionId === decisionId,
    );
    expect(denial).toMatchObject({ decision: 'deny', reason: 'policy_denied', target: 'db' });
    expect(denial?.policies).toEqual(['no-denied-agent']);
    expect(await fx.leaseRoles()).toEqual([]);
  });

  it('a database the policy does not allow: 42501', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    expect((await refusal({ user: task, password: token, database: 'postgres' })).code).toBe('42501');
  });

  it('a refusal by the database server itself keeps the server’s SQLSTATE (3D000 for a missing database)', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const error = await refusal({ user: task, password: token, database: `escrowtest_missing_${fx.suffix}` });
    expect(error.code).toBe('3D000');
    expect(error.message).toMatch(/^escrow: the database server refused the session: database ".*" does not exist$/);
  });

  it('a plain connection (no SSLRequest): 28000 with a hint to use TLS, before any password is asked', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const client = new pg.Client({
      host: '127.0.0.1',
      port: escrow.dbPort,
      user: task,
      password: token,
      database: fx.database,
      ssl: false,
    });
    const error = (await client.connect().catch((e: unknown) => e)) as Refusal & { hint?: string };
    expect(error).toMatchObject({ code: '28000', hint: 'connect with sslmode=require or sslmode=verify-full' });
    expect(error.message).toMatch(/requires TLS/);
  });

  it('counts refusals by a bounded outcome and audits each one once', async () => {
    const metrics = await escrow.gw.metrics.exposition();
    for (const outcome of ['identity', 'task', 'policy', 'tls_required']) {
      expect(metrics).toMatch(
        new RegExp(`escrow_postgres_connections_total\\{target="db",outcome="${outcome}"\\} [1-9]`),
      );
    }
    const refused = (await escrow.auditEvents()).filter((e) => e.event === 'connection.refused');
    expect(new Set(refused.map((e) => e.requestId)).size).toBe(refused.length);
  });
});
