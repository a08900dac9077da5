/**
 * PostgreSQL through Escrow against a direct connection, on a cluster of the bench's own (SCRAM-SHA-256, TLS
 * only: what a production database asks for), with two real `escrow start` processes over one Redis.
 *  - connect latency: TLS + SCRAM direct, against TLS to Escrow + token + task + Cedar + lease + TLS + SCRAM
 *    upstream (the task's role already exists; and separately the first connection of a task, which creates it);
 *  - query throughput: concurrent clients running a one-row query and a 100-row (~100 KiB) query;
 *  - cut latency: from sending the task's DELETE to the agent's client seeing its connection end, on the
 *    replica that closed the task and on the other one.
 * Run: npx tsx bench/postgres.ts [connects] [seconds] [cuts]   (writes bench/RESULTS-postgres.md)
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { TestPki } from '../test/identity/certs.js';
import { closeDbTask, type DbReplicas, openDbTask, startDbReplicas } from '../test/postgres/support/replicas.js';
import { percentile } from '../test/replicas/support/latency.js';
import { signToken } from '../test/support/keys.js';
import { type PgCluster, startPgCluster } from '../test/support/pg-cluster.js';
import { createDbPki, type DbPki } from '../test/support/postgres-escrow.js';

const CONNECTS = Number(process.argv[2] ?? 300);
const SECONDS = Number(process.argv[3] ?? 10);
const CUTS = Number(process.argv[4] ?? 200);
const CLIENTS = 8;
let version = '?';
const DATABASE = 'escrowtest_bench';
/** What the numbers mean (structure only, no figures: the run above supplies those). */
const NOTES = `
## Reading these numbers

- Everything shares two cores: the PostgreSQL cluster, both Escrow processes, Redis and the load generator.
  Through Escrow, every round trip crosses one more process and two more TLS legs (Escrow decrypts the agent's
  TLS and encrypts towards the server, and back), which is most of the throughput difference here; a
  dedicated Escrow host moves that cost off the database's and the client's cores.
- After authentication Escrow relays bytes: per chunk from the server it only walks the 5-byte message headers
  (to hold and mask ErrorResponse/NoticeResponse, and to end a session between two messages), and passes the
  other messages on as one slice of the chunk. An earlier build that wrote each message separately reached, in a short run,
  0.28× on the 100-row query.
- Connect latency through Escrow includes a TLS handshake with Escrow, the token check (cached after the first
  connection), the task and lease lookups in Redis, a Cedar decision, the audit event, and Escrow's own TCP/TLS
  + SCRAM login at the server (4096 PBKDF2 iterations, about 4 ms here; the direct client pays the same). The
  first connection of a task adds the role's creation (one transaction at the server) and the lease's durable
  audit event.
- The cut is measured at the agent: its node-postgres client's \`error\` event after \`DELETE\` was sent. The
  session is cut by the revocation notice before the DELETE answers, on the closing replica directly and on the
  other one through Redis pub/sub; the database backend is ended by the role's revocation right after.
`;

const QUERIES = {
  'one row': 'SELECT 1 AS one',
  '100 rows × 1 KiB': `SELECT i, repeat('x', 1024) AS pad FROM generate_series(1, 100) AS i`,
};

interface Setup {
  readonly cluster: PgCluster;
  readonly serverCa: string;
  readonly pki: DbPki;
  readonly escrow: DbReplicas;
}

type Login = () => Promise<pg.ClientConfig>;

async function setup(): Promise<Setup> {
  const serverPki = new TestPki();
  const serverCa = serverPki.ca('bench-pg-ca').cert;
  const server = serverPki.leaf('bench-pg', 'bench-pg-ca', [
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1',
  ]);
  const cluster = await startPgCluster(server);
  const admin = new pg.Client({ ...superuser(cluster, serverCa), database: 'postgres' });
  await admin.connect();
  version = String((await admin.query('SHOW server_version')).rows[0]?.server_version ?? '?');
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.query(`CREATE ROLE bench_reader NOLOGIN`);
  await admin.query(`CREATE ROLE bench_direct LOGIN PASSWORD 'bench-direct-password' IN ROLE bench_reader`);
  await admin.end();
  const pki = createDbPki();
  const escrow = await startDbReplicas(
    2,
    pki,
    (path) => ({
      template: 'bench_reader',
      rolePrefix: 'bench_',
      upstream: cluster.url,
      postgres: { upstreamTls: { ca: path('pg-ca.pem') }, maxConnections: 1_000 },
      credential: { adminUsername: 'postgres', adminPassword: path('pg-admin'), tls: { ca: path('pg-ca.pem') } },
    }),
    { 'pg-ca.pem': serverCa, 'pg-admin': cluster.password },
  );
  return { cluster, serverCa, pki, escrow };
}

function superuser(cluster: PgCluster, ca: string): pg.ClientConfig {
  return { host: '127.0.0.1', port: cluster.port, user: 'postgres', password: cluster.password, ssl: { ca } };
}

const direct =
  (s: Setup): Login =>
  async () => ({
    host: '127.0.0.1',
    port: s.cluster.port,
    user: 'bench_direct',
    password: 'bench-direct-password',
    database: DATABASE,
    ssl: { ca: s.serverCa },
  });

/** Through replica `i`, as one task (whose role the first connection creates). */
async function viaEscrow(s: Setup, i = 0, oneTaskPerConnection = false): Promise<Login> {
  const token = await signToken(s.escrow.keys);
  const at = s.escrow.replicas[i]!;
  const shared = await openDbTask(at.process, token);
  return async () => ({
    host: '127.0.0.1',
    port: at.dbPort,
    user: oneTaskPerConnection ? await openDbTask(at.process, token) : shared,
    password: token,
    database: DATABASE,
    ssl: { ca: s.pki.ca.cert },
  });
}

async function connectLatency(login: Login, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const client = new pg.Client(await login());
    const started = performance.now();
    await client.connect();
    out.push(performance.now() - started);
    await client.end();
  }
  return out.sort((a, b) => a - b);
}

async function throughput(login: Login, text: string): Promise<{ qps: number; mibps: number }> {
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const c = new pg.Client(await login());
      await c.connect();
      return c;
    }),
  );
  let queries = 0;
  let bytes = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < deadline) {
        const rows = (await c.query(text)).rows as Record<string, unknown>[];
        queries++;
        bytes += rows.length * (rows[0]?.pad ? 1024 : 4);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.end()));
  return { qps: queries / seconds, mibps: bytes / seconds / 2 ** 20 };
}

/** Session on replica `on`, task closed through replica `via`: ms from sending DELETE to the client's error. */
async function cutLatency(s: Setup, on: number, via: number, n: number): Promise<number[]> {
  const token = await signToken(s.escrow.keys);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const at = s.escrow.replicas[on]!;
    const task = await openDbTask(at.process, token);
    const client = new pg.Client({ ...(await (await viaEscrow(s, on))()), user: task });
    const cut = new Promise<number>((resolve) => client.on('error', () => resolve(performance.now())));
    await client.connect();
    const started = performance.now();
    const status = await closeDbTask(s.escrow.replicas[via]!.process, token, task);
    if (status !== 204) throw new Error(`close: ${status}`);
    out.push((await cut) - started);
    await client.end().catch(() => {});
  }
  return out.sort((a, b) => a - b);
}

const ms = (sorted: readonly number[]) =>
  `${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 99).toFixed(2)} | ${sorted.at(-1)?.toFixed(2)}`;

async function main(): Promise<void> {
  const s = await setup();
  try {
    await connectLatency(direct(s), 20); // warm-up: both paths, JIT and TLS session caches
    const shared = await viaEscrow(s);
    await connectLatency(shared, 20);
    const connects = {
      direct: await connectLatency(direct(s), CONNECTS),
      escrow: await connectLatency(shared, CONNECTS),
      first: await connectLatency(await viaEscrow(s, 0, true), Math.min(CONNECTS, 100)),
    };
    const rates: string[] = [];
    for (const [name, text] of Object.entries(QUERIES)) {
      const d = await throughput(direct(s), text);
      const e = await throughput(shared, text);
      rates.push(
        `| ${name} | ${d.qps.toFixed(0)} | ${e.qps.toFixed(0)} | ${(e.qps / d.qps).toFixed(2)}× | ${d.mibps.toFixed(1)} / ${e.mibps.toFixed(1)} |`,
      );
    }
    const cuts = { local: await cutLatency(s, 1, 1, CUTS), cross: await cutLatency(s, 1, 0, CUTS) };
    writeReport(connects, rates, cuts);
  } finally {
    await s.escrow.stop();
    s.cluster.destroy();
  }
}

function writeReport(
  connects: Record<'direct' | 'escrow' | 'first', number[]>,
  rates: readonly string[],
  cuts: Record<'local' | 'cross', number[]>,
): void {
  const text = `# PostgreSQL through Escrow

Command: \`npx tsx bench/postgres.ts ${CONNECTS} ${SECONDS} ${CUTS}\` (${new Date().toISOString().slice(0, 10)}, Node ${process.version},
${cpus()[0]?.model.trim()} ×${cpus().length}). A PostgreSQL ${version} cluster of the bench's own (SCRAM-SHA-256, TLS only, fsync off),
two \`escrow start\` processes over one local Redis, the load generator (node-postgres) on the same two cores.
"Direct" is node-postgres over TLS with SCRAM as a plain login role; "Escrow" is node-postgres over TLS to
Escrow with the workload token as the password, Escrow then TLS + SCRAM to the server as the task's role.

## Connect latency (ms, ${CONNECTS} sequential connections; \`client.connect()\` until ReadyForQuery)

| path | p50 | p99 | max |
| ---- | --- | --- | --- |
| direct | ${ms(connects.direct)} |
| through Escrow (task's role exists) | ${ms(connects.escrow)} |
| through Escrow, first connection of a task (creates the role) | ${ms(connects.first)} |

## Query throughput (${CLIENTS} clients, ${SECONDS} s each, queries/s)

| query | direct | through Escrow | ratio | MiB/s of rows direct / Escrow |
| ----- | ------ | -------------- | ----- | ----------------------------- |
${rates.join('\n')}

## Closing a task cuts its session (ms from sending DELETE to the client's connection error, ${CUTS} trials)

| task closed on | p50 | p99 | max |
| -------------- | --- | --- | --- |
| the replica holding the session | ${ms(cuts.local)} |
| the other replica (Redis pub/sub notice) | ${ms(cuts.cross)} |
${NOTES}`;
  writeFileSync(join(import.meta.dirname, 'RESULTS-postgres.md'), text);
  process.stdout.write(text);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
