import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { stringify } from 'yaml';
import { generatedPolicies, writePolicyDir } from './policies.js';
import { type Child, freePort, startChild } from './process.js';

export const REDIS_URL = process.env.ESCROW_BENCH_REDIS ?? 'redis://127.0.0.1:6379/0';
const ISSUER = 'https://bench.escrow.local';
const TRUST_DOMAIN = 'bench.example';

/** Identity material shared by every Escrow the harness starts. */
export interface BenchKeys {
  readonly dir: string;
  sign(subject: string, ttlSeconds?: number): Promise<string>;
}

export async function createBenchKeys(dir: string): Promise<BenchKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `bench-${randomBytes(4).toString('hex')}`;
  writeFileSync(
    join(dir, 'jwks.json'),
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] }),
  );
  writeFileSync(join(dir, 'lease.key'), randomBytes(32).toString('base64'));
  writeFileSync(join(dir, 'audit.key'), randomBytes(32).toString('base64'));
  writeFileSync(join(dir, 'api-key'), `bench-secret-${randomBytes(12).toString('hex')}`);
  return {
    dir,
    sign: (subject, ttlSeconds = 4 * 3600) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setSubject(subject)
        .setIssuer(ISSUER)
        .setAudience('escrow')
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
        .sign(privateKey),
  };
}

export interface EscrowSpec {
  readonly name: string;
  readonly policies: 'examples' | 'generated';
  readonly workers: number;
  readonly upstreamPort: number;
  readonly repoRoot: string;
  readonly keys: BenchKeys;
  readonly prefix: string;
  readonly maxOpenPerPrincipal?: number;
  /** Extra arguments for node itself (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
}

export interface RunningEscrow {
  readonly child: Child;
  readonly port: number;
  readonly adminPort: number;
  readonly configPath: string;
}

function configFor(spec: EscrowSpec, port: number, adminPort: number, policyDir: string) {
  return {
    proxy: { listen: `127.0.0.1:${port}` },
    admin: { listen: `127.0.0.1:${adminPort}` },
    store: REDIS_URL,
    storePrefix: spec.prefix,
    keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
    identity: {
      issuers: [
        {
          name: 'bench',
          principal: 'Agent',
          issuer: ISSUER,
          audience: 'escrow',
          jwks: 'file:jwks.json',
          algorithms: ['ES256'],
          trustDomain: TRUST_DOMAIN,
        },
      ],
    },
    policies: policyDir,
    watchPolicies: false,
    tasks: { maxOpenPerPrincipal: spec.maxOpenPerPrincipal ?? 100 },
    // Retention by age bounds the stream under bench load (thousands of events a second); the size bound only backs it.
    audit: {
      sinks: process.env.ESCROW_BENCH_SINKS?.split(',') ?? ['redis', `file:audit-${spec.name}.log`],
      streamRetentionSeconds: 60,
      streamMaxLen: 5_000_000,
    },
    targets: [
      {
        name: 'bench',
        upstream: `http://127.0.0.1:${spec.upstreamPort}`,
        attributes: { sensitivity: 'low', environment: 'dev' },
        requireTask: true,
        credential: { adapter: 'header', header: 'x-api-key', value: 'file:api-key', ttl: 3600 },
      },
    ],
  };
}

/** Write the bench's Escrow config (and its policy directory) for `spec`, on two free ports. */
export async function writeEscrowConfig(
  spec: EscrowSpec,
): Promise<{ port: number; adminPort: number; configPath: string }> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const policyDir = join(spec.keys.dir, `policies-${spec.policies}`);
  writePolicyDir(policyDir, join(spec.repoRoot, 'policies'), spec.policies === 'generated' ? generatedPolicies() : {});
  const configPath = join(spec.keys.dir, `escrow-${spec.name}.yaml`);
  writeFileSync(configPath, stringify(configFor(spec, port, adminPort, policyDir)));
  return { port, adminPort, configPath };
}

/** Start `node dist/gateway/cli.js start --config <generated yaml> [--workers N]` and wait for /readyz. */
export async function startEscrowProcess(spec: EscrowSpec): Promise<RunningEscrow> {
  const { port, adminPort, configPath } = await writeEscrowConfig(spec);
  // ESCROW_BENCH_CLI points at another build (A/B comparisons of a change without touching dist/).
  const cli = process.env.ESCROW_BENCH_CLI ?? join(spec.repoRoot, 'dist/gateway/cli.js');
  const args = [...(spec.nodeArgs ?? []), cli, 'start', '--config', configPath];
  if (spec.workers > 1) args.push('--workers', String(spec.workers));
  const child = await startChild(spec.name, process.execPath, args, {
    cwd: spec.repoRoot,
    env: { ...process.env, ESCROW_LOG_LEVEL: 'warn' },
    readyUrl: `http://127.0.0.1:${adminPort}/readyz`,
    timeoutMs: 60_000,
  });
  return { child, port, adminPort, configPath };
}

/** A principal's token and an open task on the bench target. */
export interface Agent {
  readonly token: string;
  readonly taskId: string;
}

export async function openTask(port: number, token: string, intent: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/_escrow/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ intent, targets: ['bench'], ttlSeconds: 4 * 3600 }),
  });
  const body = (await res.json()) as { id?: string };
  if (res.status !== 201 || !body.id) throw new Error(`opening a task failed: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

export function agentSubject(n: number): string {
  return `spiffe://${TRUST_DOMAIN}/agent/bench-${n}`;
}

/** Check one request goes all the way through (200, the upstream's body) before measuring anything. */
export async function checkFullPath(port: number, agent: Agent): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/bench/items/1?q=1`, {
    headers: { authorization: `Bearer ${agent.token}`, 'x-escrow-task': agent.taskId },
  });
  const text = await res.text();
  if (res.status !== 200 || !text.includes('"items"'))
    throw new Error(`Escrow full path check failed: ${res.status} ${text}`);
}

/** Delete every key under the bench prefix. */
export async function deletePrefix(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
