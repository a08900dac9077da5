import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestCert } from '../identity/certs.js';

/**
 * A PostgreSQL cluster of the test's own (initdb in a temp directory, its own port): SCRAM-SHA-256 only, over
 * TLS only, so that the role passwords Escrow mints are really checked, and so that a test can stop and start
 * it (the shared server on 5432 trusts loopback and must not be stopped). As root, the server runs as the
 * `postgres` OS user, as PostgreSQL requires.
 */
export interface PgCluster {
  readonly url: string;
  readonly port: number;
  readonly superuser: string;
  readonly password: string;
  start(): void;
  /** Stop at once (`-m immediate`): sessions die, connections are refused until `start`. */
  stop(): void;
  destroy(): void;
}

/** The server binaries: $ESCROW_TEST_PG_BIN, else Debian's newest /usr/lib/postgresql/<version>/bin. */
function serverBin(): string {
  if (process.env.ESCROW_TEST_PG_BIN) return process.env.ESCROW_TEST_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error('no PostgreSQL server binaries (set ESCROW_TEST_PG_BIN)');
  return join(root, newest, 'bin');
}

const BIN = serverBin();

function asPostgres(command: string, args: readonly string[]): void {
  const [file, argv] =
    process.getuid?.() === 0
      ? ['runuser', ['-u', 'postgres', '--', join(BIN, command), ...args]]
      : [join(BIN, command), args];
  execFileSync(file, argv, { stdio: 'pipe' });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export async function startPgCluster(server: TestCert): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-pgcluster-'));
  const data = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  const port = await freePort();
  writeFileSync(join(dir, 'pw'), password);
  writeFileSync(join(dir, 'server.pem'), server.cert);
  writeFileSync(join(dir, 'server.key'), server.key);
  chmodSync(join(dir, 'server.key'), 0o600);
  if (process.getuid?.() === 0) {
    const { uid, gid } = postgresUser();
    for (const f of ['', 'pw', 'server.pem', 'server.key']) chownSync(join(dir, f), uid, gid);
  }
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--pwfile', join(dir, 'pw'), '-A', 'scram-sha-256', '--no-sync']);
  writeFileSync(join(data, 'pg_hba.conf'), 'hostssl all all 127.0.0.1/32 scram-sha-256\n');
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${dir}'`,
      'ssl = on',
      `ssl_cert_file = '${join(dir, 'server.pem')}'`,
      `ssl_key_file = '${join(dir, 'server.key')}'`,
      'fsync = off',
      'max_connections = 40',
      '',
    ].join('\n'),
  );
  const ctl = (...args: string[]) => asPostgres('pg_ctl', ['-D', data, '-w', '-t', '30', ...args]);
  const cluster: PgCluster = {
    url: `postgres://127.0.0.1:${port}`,
    port,
    superuser: 'postgres',
    password,
    start: () => ctl('-l', join(dir, 'log'), 'start'),
    stop: () => ctl('-m', 'immediate', 'stop'),
    destroy() {
      try {
        cluster.stop();
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  cluster.start();
  return cluster;
}

function postgresUser(): { uid: number; gid: number } {
  const line = execFileSync('id', ['postgres']).toString();
  return { uid: Number(/uid=(\d+)/.exec(line)?.[1]), gid: Number(/gid=(\d+)/.exec(line)?.[1]) };
}
