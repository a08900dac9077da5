import { resolve } from 'node:path';
import { createAdapter } from '../adapters/registry.js';
import { approvalForOpen, createApprovals } from './approvals/index.js';
import { createAuditLog } from './audit/index.js';
import type { AuditLog } from './audit/types.js';
import { explainError } from './cause.js';
import { Closers, openOrClose } from './closers.js';
import type { LoadedConfig } from './config/load.js';
import { resolveSecretRef } from './config/secret-ref.js';
import type { Gateway } from './gateway.js';
import { createIdentityVerifier } from './identity/index.js';
import { createLeaseCipher } from './leases/crypto.js';
import { Revoker } from './leases/revoker.js';
import { LeaseService } from './leases/service.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPolicyEngine } from './policy/engine.js';
import { createUpstreamPool } from './proxy/forward.js';
import { SecretRegistry } from './scrub/registry.js';
import { createStore } from './store/index.js';
import type { TargetRuntime } from './targets.js';
import { TaskService } from './tasks/service.js';

export interface RunningGateway extends Gateway {
  /** SHA-256 of the enforced policy set, and whether the revocation subscription is live (for /readyz). */
  readonly state: { subscribed: boolean; draining: boolean };
  readonly baseDir: string;
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly log: Logger;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => number;
  readonly metrics?: Metrics;
  /** Periodic sweep of expired tasks' leases (ms); 0 disables it. */
  readonly sweepIntervalMs?: number;
  /** Periodic expiry of approval requests nobody decided (ms); 0 disables it (expiry is then seen on read). */
  readonly approvalSweepMs?: number;
}

/**
 * Resolve a secret reference and register the value as a static needle of `group`: every secret the config names
 * is scrubbed from every response, whether or not a lease ever carries it (gateway/scrub/registry.ts).
 */
export function registeringResolver(
  secrets: SecretRegistry,
  group: string,
  baseDir: string,
  env: NodeJS.ProcessEnv,
  seen?: Set<string>,
) {
  return (ref: string): string => {
    const value = resolveSecretRef(ref, baseDir, env);
    secrets.addStatic(group, value);
    seen?.add(value);
    return value;
  };
}

async function buildTargets(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  now: () => number,
  tokenHeaders: readonly string[],
  closers: Closers,
  secrets: SecretRegistry,
) {
  const targets = new Map<string, TargetRuntime>();
  for (const [i, config] of loaded.config.targets.entries()) {
    const adapter = await createAdapter(config.credential, {
      resolveSecret: registeringResolver(secrets, 'targets', loaded.baseDir, env),
      path: `targets[${i}].credential`,
      baseDir: loaded.baseDir,
      now,
    });
    const url = new URL(config.upstream);
    const pool = createUpstreamPool(config);
    closers.add(() => pool.close());
    targets.set(config.name, {
      config,
      adapter,
      pool,
      basePath: url.pathname.replace(/\/+$/, ''),
      origin: url.origin,
      facts: { name: config.name, attributes: config.attributes },
      allowedResponseHeaders: new Set(config.allowResponseHeaders),
      tokenHeaders: new Set([...tokenHeaders, ...(config.identityHeader ? [config.identityHeader] : [])]),
    });
  }
  return targets;
}

/**
 * Build every component from a validated config. Any failure here stops start-up (fail closed), and closes
 * what was already opened (Redis connections, watchers, sinks) so that the failed process can exit.
 */
export async function createGateway(loaded: LoadedConfig, options: GatewayOptions): Promise<RunningGateway> {
  const closers = new Closers();
  return openOrClose(closers, () => buildGateway(loaded, options, closers));
}

async function buildGateway(loaded: LoadedConfig, options: GatewayOptions, closers: Closers): Promise<RunningGateway> {
  const { config, baseDir } = loaded;
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const log = options.log;
  const metrics = options.metrics ?? createMetrics({ defaultMetrics: true });
  const secrets = new SecretRegistry({ now });
  const secret = registeringResolver(secrets, 'keys', baseDir, env);
  const store = await createStore({
    url: config.store,
    prefix: config.storePrefix,
    timeoutMs: config.storeTimeoutMs,
    ...(config.storePassword ? { password: secret(config.storePassword) } : {}),
    streamMaxLen: config.audit.streamMaxLen,
    onError: (error) => {
      metrics.storeErrors.inc();
      log.warn({ err: error.message }, 'store command failed');
    },
  });
  closers.add(() => store.close());
  const audit: AuditLog = createAuditLog({
    hmacKey: secret(config.keys.auditHmac),
    sinks: config.audit.sinks,
    events: store.events,
    failMode: config.audit.failMode,
    baseDir,
    now,
    onSinkError: (sink) => metrics.auditSinkErrors.inc({ sink }),
    onDrop: (sink, count) => {
      metrics.auditEventsDropped.inc({ sink }, count);
      log.error({ sink, count }, 'audit events dropped: the sink has been failing too long');
    },
    onRefusedField: (field, event) => {
      metrics.auditFieldsRefused.inc();
      log.warn({ field, event }, 'audit field refused: it looked like a token');
    },
  });
  closers.add(() => audit.close());
  const cipher = createLeaseCipher(
    secret(config.keys.leaseEncryption),
    config.keys.leaseEncryptionPrevious.map(secret),
  );
  const identity = await createIdentityVerifier(config.identity, {
    baseDir,
    now,
    onKeyFetchFailure: (issuer, error) => {
      metrics.identityKeyFetchFailures.inc({ issuer });
      log.warn({ issuer, err: explainError(error) }, 'identity issuer keys could not be read');
    },
    ...(store.redis ? { redis: store.redis, redisPrefix: config.storePrefix } : {}),
  });
  closers.add(() => identity.close());
  const policy = await createPolicyEngine({
    dir: resolve(baseDir, config.policies),
    ...(config.shadowPolicies ? { shadowDir: resolve(baseDir, config.shadowPolicies) } : {}),
    watch: config.watchPolicies,
    logger: log,
    now,
    onReload: (result, info) => {
      metrics.policyReloads.inc({ result });
      audit.record({
        event: 'policy.reloaded',
        decision: result === 'ok' ? 'allow' : 'deny',
        policySetHash: info.hash,
        set: info.set ?? 'enforced',
      });
    },
    onShadowMismatch: (info) => {
      audit.record({ event: 'policy.shadow_mismatch', ...info });
    },
  });
  closers.add(() => policy.close());
  const targets = await buildTargets(loaded, env, now, identity.tokenHeaders, closers, secrets);
  metrics.initializeSeries({
    targets: [...targets.values()].map((t) => ({ name: t.config.name, adapter: t.adapter.kind })),
    auditSinks: config.audit.sinks.flatMap((spec) =>
      spec === 'none' ? [] : [spec.startsWith('file:') ? 'file' : spec],
    ),
    issuers: config.identity.issuers.map((issuer) => issuer.name),
  });
  const tasks = new TaskService({
    store,
    limits: config.tasks,
    targetNames: new Set(targets.keys()),
    now,
    approvalFor: approvalForOpen,
  });
  let revoker: Revoker | undefined;
  const leases = new LeaseService({
    store,
    cipher,
    audit,
    auditFailMode: config.audit.failMode,
    metrics,
    now,
    log,
    cacheListener: {
      added: (lease) => secrets.addCredential(lease.credential),
      removed: (lease) => secrets.removeCredential(lease.credential),
    },
    onRetired: (lease, reason, task) => revoker?.retire(lease, reason, task),
  });
  const approvals = createApprovals({
    config,
    store,
    audit,
    metrics,
    log,
    now,
    secret,
    closeTask: (taskId) => revoker!.revokeTask(taskId, 'task_closed'),
  });
  closers.add(() => approvals.close());
  revoker = new Revoker({
    store,
    tasks,
    leases,
    adapterFor: (t) => targets.get(t)?.adapter,
    audit,
    metrics,
    log,
    now,
    onNotice: (message) => approvals.onNotice(message),
  });
  const { queue } = revoker;
  closers.add(async () => {
    await queue.drain();
    queue.close();
  });
  const state = { subscribed: false, draining: false };
  await revoker.listen((healthy) => {
    state.subscribed = healthy;
  });
  metrics.setActiveLeasesSource(() => leases.cache.size);
  const sweepMs = options.sweepIntervalMs ?? 10_000;
  const sweeper =
    sweepMs > 0
      ? setInterval(() => {
          revoker
            .sweepExpired()
            .catch((error: Error) => log.warn({ err: error.message }, 'expired-lease sweep failed'));
        }, sweepMs)
      : undefined;
  sweeper?.unref();
  closers.add(() => clearInterval(sweeper));
  const approvalMs = options.approvalSweepMs ?? 1_000;
  const approvalSweeper =
    approvalMs > 0
      ? setInterval(() => {
          approvals.sweep().catch((error: Error) => log.warn({ err: error.message }, 'approval expiry sweep failed'));
        }, approvalMs)
      : undefined;
  approvalSweeper?.unref();
  closers.add(() => clearInterval(approvalSweeper));

  return {
    config,
    targets,
    identity,
    policy,
    tasks,
    leases,
    revoker,
    approvals,
    secrets,
    store,
    audit,
    metrics,
    log,
    now,
    state,
    baseDir,
    async close() {
      await closers.closeAll();
    },
  };
}
