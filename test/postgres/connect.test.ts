import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTrace } from '../../gateway/audit/index.js';
import { createLogger } from '../../gateway/log.js';
import type { TestEscrow } from '../support/escrow.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';

const run = promisify(execFile);

let fx: PgFixture;
let pki: DbPki;
let escrow: TestEscrow & { dbPort: number };
const clients: pg.Client[] = [];
const logLines: Buffer[] = [];

beforeAll(async () => {
  fx = await createPgFixture('connect');
  pki = createDbPki();
  // Every log line, at debug level, to search for the password and the token.
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines.push(Buffer.from(chunk));
      callback();
    },
  });
  escrow = await startDbEscrow(
    pki,
    { template: fx.readOnly, rolePrefix: fx.rolePrefix },
    { log: createLogger({ level: 'debug', destination }) },
  );
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await escrow?.close();
  await fx?.drop();
});

async function connectAs(token: string, task: string): Promise<pg.Client> {
  const client = agentClient(escrow.dbPort, fx, pki, { user: task, password: token });
  clients.push(client);
  await client.connect();
  return client;
}

describe('an agent connects with its workload token and runs queries as its minted role', () => {
  it('logs in with user = task id and password = token over TLS, and queries as the lease role', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const client = await connectAs(token, task);
    const who = await client.query('SELECT current_user AS role, session_user AS login');
    const [lease] = await escrow.gw.leases.list(task, ['db']);
    expect(who.rows[0]).toEqual({
      role: lease?.credential.reveal().fields.username,
      login: lease?.credential.reveal().fields.username,
    });
    expect((await client.query('SELECT name FROM items ORDER BY id')).rows).toEqual([{ name: 'one' }, { name: 'two' }]);
  });

  it('reuses one role for all of a task’s connections, and gives another task another role', async () => {
    const token = await escrow.token();
    const [first, second] = [await escrow.openTask(token, ['db']), await escrow.openTask(token, ['db'])];
    const roles = async (task: string) => (await (await connectAs(token, task)).query('SELECT current_user')).rows[0];
    const a1 = await roles(first);
    const a2 = await roles(first);
    const b = await roles(second);
    expect(a2).toEqual(a1);
    expect(b).not.toEqual(a1);
  });

  it('a read-only template refuses a write: the grants, not Escrow, decide what the role may do', async () => {
    const token = await escrow.token();
    const client = await connectAs(token, await escrow.openTask(token, ['db']));
    const error = (await client.query(`INSERT INTO items VALUES (3, 'three')`).catch((e: unknown) => e)) as {
      code?: string;
      message?: string;
    };
    expect(error.code).toBe('42501');
    expect(error.message).toMatch(/permission denied for table items/);
    expect((await client.query('SELECT count(*)::int AS n FROM items')).rows[0]).toEqual({ n: 2 });
  });

  it('psql connects the same way (PGPASSWORD = token, sslmode=verify-ca)', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const ca = join(escrow.dir, 'client-ca.pem');
    writeFileSync(ca, pki.ca.cert);
    const conninfo = `host=127.0.0.1 port=${escrow.dbPort} user=${task} dbname=${fx.database} sslmode=verify-ca sslrootcert=${ca}`;
    const { stdout } = await run('psql', [conninfo, '-At', '-c', 'SELECT current_user, count(*) FROM items'], {
      env: { ...process.env, PGPASSWORD: token, PGCONNECT_TIMEOUT: '10' },
    });
    const [role] = stdout.trim().split('|');
    expect(role).toMatch(new RegExp(`^${fx.rolePrefix}[0-9a-f]{24}$`));
    expect(stdout.trim()).toBe(`${role}|2`);
  });
});

describe('the role password never reaches the agent, the logs, the metrics or the audit trail, and traces back to the task', () => {
  it('is absent from what the client received, the audit file, the logs, /metrics and pg_stat_activity; trace finds the lease', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db'], 'count the items');
    const client = await connectAs(token, task);
    const received: Buffer[] = [];
    (client as unknown as { connection: { stream: NodeJS.ReadableStream } }).connection.stream.on('data', (c: Buffer) =>
      received.push(c),
    );
    await client.query('SELECT * FROM pg_stat_activity');
    const [lease] = await escrow.gw.leases.list(task, ['db']);
    const password = lease!.credential.reveal().fields.password!;
    const text = (await escrow.auditEvents()).map((e) => JSON.stringify(e)).join('\n');
    expect(Buffer.concat(received).includes(password)).toBe(false);
    expect(text).not.toContain(password);
    expect(text).not.toContain(token);
    const activity = await fx.sql(`SELECT string_agg(query, ' ') AS q FROM pg_stat_activity`);
    expect(String(activity.rows[0]?.q)).not.toContain(password);
    const metrics = await escrow.gw.metrics.exposition();
    expect(metrics).not.toContain(password);
    const logs = Buffer.concat(logLines).toString();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(password);
    expect(logs).not.toContain(token);
    const trace = JSON.parse(
      auditTrace({
        input: text.split('\n'),
        secretOrFingerprint: password,
        hmacKey: escrow.secrets.auditKey,
        json: true,
      }),
    ) as { leases: { leaseId: string; task?: { id: string; intent?: string }; principal?: { id?: string } }[] };
    expect(trace.leases).toHaveLength(1);
    expect(trace.leases[0]).toMatchObject({
      leaseId: lease!.id,
      task: { id: task, intent: 'count the items' },
      principal: { id: 'spiffe://test.example/agent/a' },
    });
  });

  it('records connection.opened with the decision, role and database, and connection.closed with duration and bytes', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const client = await connectAs(token, task);
    await client.query("SELECT repeat('x', 10000)");
    await client.end();
    await expect
      .poll(async () =>
        (await escrow.auditEvents()).some(
          (e) => e.event === 'connection.closed' && (e.task as { id: string }).id === task,
        ),
      )
      .toBe(true);
    const events = (await escrow.auditEvents()).filter((e) => (e.task as { id?: string } | undefined)?.id === task);
    const opened = events.find((e) => e.event === 'connection.opened')!;
    const closed = events.find((e) => e.event === 'connection.closed')!;
    expect(opened).toMatchObject({ decision: 'allow', target: 'db', database: fx.database, authMethod: 'password' });
    expect(opened.policies).toEqual(['connect-test-databases']);
    expect(opened.role).toMatch(new RegExp(`^${fx.rolePrefix}`));
    expect(closed).toMatchObject({ reason: 'client_closed', leaseId: opened.leaseId });
    expect(closed.bytesToClient as number).toBeGreaterThan(10_000);
    expect(closed.bytesFromClient as number).toBeGreaterThan(0);
    expect(closed.durationMs as number).toBeGreaterThanOrEqual(0);
    const metrics = await escrow.gw.metrics.exposition();
    expect(metrics).toMatch(/escrow_postgres_connections_total\{target="db",outcome="opened"\} [1-9]/);
    expect(metrics).toMatch(/escrow_postgres_bytes_total\{target="db",direction="to_client"\} [1-9]/);
    expect(metrics).not.toContain(task);
  });
});
