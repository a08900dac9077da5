import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { createGateway, type RunningGateway } from '../../gateway/app.js';
import { loadConfig } from '../../gateway/config/load.js';
import { type Logger, silentLogger } from '../../gateway/log.js';
import { createMetrics } from '../../gateway/metrics.js';
import { type Listeners, startListeners } from '../../gateway/server.js';
import { createIssuerKeys, type IssuerKeys, signToken, TEST_IDENTITY, type TokenOptions } from './keys.js';
import { deletePrefix, REDIS_URL, testPrefix } from './redis.js';

export const REPO_POLICIES = resolve(import.meta.dirname, '../../policies');

export interface EscrowOptions {
  readonly store?: 'redis' | 'memory';
  /** Raw target entries, as in escrow.yaml. */
  readonly targets: readonly Record<string, unknown>[];
  /** Policy files to use instead of the repository's (`{ 'x.cedar': text }`); the schema is copied in. */
  readonly policies?: Record<string, string>;
  /** Top-level config keys merged over the defaults (shallow). */
  readonly config?: Record<string, unknown>;
  /** Write extra files into the config directory and return more top-level keys (merged last). */
  readonly configure?: (dir: string) => Record<string, unknown>;
  /** Environment for `env:` references. */
  readonly env?: Record<string, string>;
  /** Share a store prefix (two replicas over one Redis). */
  readonly prefix?: string;
  readonly keys?: IssuerKeys;
  /** Share lease/audit keys between replicas. */
  readonly secrets?: { leaseKey: string; auditKey: string };
  /** A logger to inspect (default: silent). */
  readonly log?: Logger;
  /** The gateway's clock (default: Date.now). */
  readonly now?: () => number;
  /** Periodic expiry of approval requests (ms; default 0: tests call `gw.approvals.sweep()`). */
  readonly approvalSweepMs?: number;
}

export interface TestEscrow {
  readonly url: string;
  readonly adminUrl: string;
  readonly gw: RunningGateway;
  readonly listeners: Listeners;
  readonly keys: IssuerKeys;
  readonly prefix: string;
  readonly dir: string;
  readonly secrets: { leaseKey: string; auditKey: string };
  /** The admin API's bearer token (`admin.token`), and the headers that present it. */
  readonly adminToken: string;
  readonly adminHeaders: Record<string, string>;
  token(options?: TokenOptions): Promise<string>;
  /** Open a task as `token` and return its id (throws on a non-201). */
  openTask(
    token: string,
    targets: readonly string[],
    intent?: string,
    extra?: Record<string, unknown>,
  ): Promise<string>;
  /** The audit file's events, parsed. */
  auditEvents(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** Start a real Escrow in this process: real listeners on port 0, real Redis (own prefix) or memory store. */
export async function startEscrow(options: EscrowOptions): Promise<TestEscrow> {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-test-'));
  const keys = options.keys ?? (await createIssuerKeys());
  const secrets = options.secrets ?? {
    leaseKey: randomBytes(32).toString('base64'),
    auditKey: randomBytes(32).toString('base64'),
  };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(keys.jwks));
  writeFileSync(join(dir, 'lease.key'), secrets.leaseKey);
  writeFileSync(join(dir, 'audit.key'), secrets.auditKey);
  const adminToken = `admin-${randomBytes(18).toString('base64url')}`;
  writeFileSync(join(dir, 'admin.token'), adminToken);
  let policies = REPO_POLICIES;
  if (options.policies) {
    policies = join(dir, 'policies');
    cpSync(join(REPO_POLICIES, 'schema.cedarschema'), join(policies, 'schema.cedarschema'), { recursive: true });
    for (const [name, text] of Object.entries(options.policies)) writeFileSync(join(policies, name), text);
  }
  const store = options.store ?? 'redis';
  const prefix = options.prefix ?? testPrefix('e2e');
  const config = {
    proxy: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0', token: 'file:admin.token' },
    store: store === 'redis' ? REDIS_URL : 'memory://',
    storePrefix: prefix,
    keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
    identity: TEST_IDENTITY,
    policies,
    watchPolicies: false,
    audit: { sinks: ['file:audit.log'] },
    targets: options.targets,
    ...options.config,
    ...options.configure?.(dir),
  };
  writeFileSync(join(dir, 'escrow.yaml'), stringify(config));
  const loaded = loadConfig(join(dir, 'escrow.yaml'), { ...process.env, ...options.env });
  const gw = await createGateway(loaded, {
    log: options.log ?? silentLogger(),
    env: { ...process.env, ...options.env },
    metrics: createMetrics(),
    sweepIntervalMs: 0,
    approvalSweepMs: options.approvalSweepMs ?? 0,
    ...(options.now ? { now: options.now } : {}),
  });
  const listeners = await startListeners(gw);
  const url = `http://127.0.0.1:${(listeners.proxy.address() as AddressInfo).port}`;
  const adminUrl = `http://127.0.0.1:${(listeners.admin.address() as AddressInfo).port}`;
  return {
    url,
    adminUrl,
    gw,
    listeners,
    keys,
    prefix,
    dir,
    secrets,
    adminToken,
    adminHeaders: { authorization: `Bearer ${adminToken}` },
    token: (o) => signToken(keys, o),
    async openTask(token, targets, intent = 'test task', extra = {}) {
      const res = await fetch(`${url}/_escrow/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ intent, targets, ...extra }),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 201 || !body.id) throw new Error(`openTask: ${res.status} ${JSON.stringify(body)}`);
      return body.id;
    },
    async auditEvents() {
      await gw.audit.flush();
      const file = join(dir, 'audit.log');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async close() {
      await listeners.shutdown(1_000);
      if (store === 'redis' && options.prefix === undefined) await deletePrefix(prefix);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
