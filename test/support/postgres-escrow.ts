import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { svidExtensions, type TestCert, TestPki } from '../identity/certs.js';
import { type EscrowOptions, startEscrow, type TestEscrow } from './escrow.js';
import { PG_SUPERUSER, PG_URL, type PgFixture } from './postgres.js';

/** Policies for database tests: tasks may be opened; `connect` is allowed to the test databases unless forbidden. */
export const DB_POLICIES = {
  'open.cedar': '@id("open-tasks")\npermit (principal, action == Escrow::Action::"openTask", resource);\n',
  'connect.cedar': [
    '@id("connect-test-databases")',
    'permit (principal, action == Escrow::Action::"connect", resource)',
    'when { context has database && context.database.name like "escrowtest_*" };',
    '',
    '@id("no-denied-agent")',
    'forbid (principal, action == Escrow::Action::"connect", resource)',
    'when { principal == Escrow::Agent::"spiffe://test.example/agent/denied" };',
    '',
  ].join('\n'),
};

/** One PKI for every database test file: a CA, Escrow's server certificate, and an agent's X.509-SVID. */
export interface DbPki {
  readonly ca: TestCert;
  readonly server: TestCert;
  readonly agent: TestCert;
}

export function createDbPki(): DbPki {
  const pki = new TestPki();
  const ca = pki.ca('db-ca');
  const server = pki.leaf('escrow-db', 'db-ca', [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const agent = pki.leaf('agent-a', 'db-ca', svidExtensions('spiffe://test.example/agent/a'));
  return { ca, server, agent };
}

export interface DbTargetOptions {
  readonly name?: string;
  readonly template: string;
  readonly rolePrefix: string;
  readonly postgres?: Record<string, unknown>;
  readonly credential?: Record<string, unknown>;
  readonly listen?: string;
  /** Default: the machine's PostgreSQL. */
  readonly upstream?: string;
}

/** A `protocol: postgres` target entry over the machine's PostgreSQL, TLS files written by `configure`. */
export function dbTarget(o: DbTargetOptions): Record<string, unknown> {
  return {
    name: o.name ?? 'db',
    protocol: 'postgres',
    listen: o.listen ?? '127.0.0.1:0',
    upstream: o.upstream ?? PG_URL,
    attributes: { sensitivity: 'high', environment: 'test' },
    postgres: {
      tls: { cert: 'file:db-server.pem', key: 'file:db-server.key', clientCA: 'file:db-ca.pem' },
      ...o.postgres,
    },
    credential: {
      adapter: 'postgres',
      ttl: 600,
      template: o.template,
      adminUsername: PG_SUPERUSER,
      rolePrefix: o.rolePrefix,
      ...o.credential,
    },
  };
}

/** Write the PKI files a `dbTarget` refers to into the config directory. */
export function writePki(dir: string, pki: DbPki): Record<string, unknown> {
  writeFileSync(join(dir, 'db-server.pem'), pki.server.cert);
  writeFileSync(join(dir, 'db-server.key'), pki.server.key);
  writeFileSync(join(dir, 'db-ca.pem'), pki.ca.cert);
  return {};
}

/** Escrow with one postgres target (plus anything in `options`), started in this process. */
export async function startDbEscrow(
  pki: DbPki,
  target: DbTargetOptions,
  options: Partial<EscrowOptions> = {},
): Promise<TestEscrow & { readonly dbPort: number }> {
  const escrow = await startEscrow({
    policies: DB_POLICIES,
    ...options,
    targets: [dbTarget(target), ...(options.targets ?? [])],
    configure: (dir) => ({ ...writePki(dir, pki), ...options.configure?.(dir) }),
  });
  return Object.assign(escrow, { dbPort: escrow.gw.postgres[0]!.port });
}

/** A real `pg` client for an agent: user = task id, password = workload token, TLS verified against the test CA. */
export function agentClient(
  port: number,
  fx: PgFixture,
  pki: DbPki,
  login: { user: string; password?: string; ssl?: pg.ClientConfig['ssl']; database?: string },
): pg.Client {
  return new pg.Client({
    host: '127.0.0.1',
    port,
    database: login.database ?? fx.database,
    user: login.user,
    ...(login.password !== undefined ? { password: login.password } : {}),
    ssl: login.ssl ?? { ca: pki.ca.cert },
    connectionTimeoutMillis: 10_000,
  });
}
