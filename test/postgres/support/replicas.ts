import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_POLICIES } from '../../support/escrow.js';
import { type EscrowProcess, startEscrowProcess } from '../../support/escrow-process.js';
import { createIssuerKeys, type IssuerKeys } from '../../support/keys.js';
import { DB_POLICIES, type DbPki, type DbTargetOptions, dbTarget } from '../../support/postgres-escrow.js';
import { deletePrefix, testPrefix } from '../../support/redis.js';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Escrow processes over one Redis prefix, each with a postgres target `db` on a port of its own. */
export interface DbReplicas {
  readonly keys: IssuerKeys;
  readonly replicas: readonly { readonly process: EscrowProcess; readonly dbPort: number }[];
  stop(): Promise<(number | null)[]>;
}

/**
 * Start `count` `escrow start` processes sharing a Redis prefix and keys. `files` are written beside the
 * config (e.g. the database server's CA); `target` may refer to them as `file:<absolute path>` via `path()`.
 */
export async function startDbReplicas(
  count: number,
  pki: DbPki,
  target: (path: (file: string) => string) => DbTargetOptions,
  files: Record<string, string> = {},
): Promise<DbReplicas> {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-pg-replicas-'));
  const path = (file: string) => `file:${join(dir, file)}`;
  const prefix = testPrefix('pg-replicas');
  const keys = await createIssuerKeys();
  for (const [name, text] of Object.entries({
    'db-server.pem': pki.server.cert,
    'db-server.key': pki.server.key,
    'db-ca.pem': pki.ca.cert,
    ...files,
  })) {
    writeFileSync(join(dir, name), text);
  }
  cpSync(join(REPO_POLICIES, 'schema.cedarschema'), join(dir, 'policies', 'schema.cedarschema'), { recursive: true });
  for (const [name, text] of Object.entries(DB_POLICIES)) writeFileSync(join(dir, 'policies', name), text);
  const secrets = { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') };
  const one = async () => {
    const dbPort = await freePort();
    const entry = dbTarget({ ...target(path), listen: `127.0.0.1:${dbPort}` });
    const postgres = entry.postgres as Record<string, unknown>;
    postgres.tls = { cert: path('db-server.pem'), key: path('db-server.key'), clientCA: path('db-ca.pem') };
    const process = await startEscrowProcess({
      prefix,
      keys,
      secrets,
      targets: [entry],
      config: { policies: join(dir, 'policies'), tasks: { maxOpenPerPrincipal: 100_000 } },
    });
    return { process, dbPort };
  };
  const replicas = await Promise.all(Array.from({ length: count }, one));
  return {
    keys,
    replicas,
    async stop() {
      const codes = await Promise.all(replicas.map((r) => r.process.close()));
      await deletePrefix(prefix);
      rmSync(dir, { recursive: true, force: true });
      return codes;
    },
  };
}

/** Open a task on `at` for target `db` and return its id. */
export async function openDbTask(at: EscrowProcess, token: string, ttlSeconds?: number): Promise<string> {
  const res = await fetch(`${at.url}/_escrow/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ intent: 'database work', targets: ['db'], ...(ttlSeconds ? { ttlSeconds } : {}) }),
  });
  if (res.status !== 201) throw new Error(`open task: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function closeDbTask(at: EscrowProcess, token: string, task: string): Promise<number> {
  const res = await fetch(`${at.url}/_escrow/tasks/${task}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  });
  return res.status;
}
