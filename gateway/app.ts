import { resolve } from 'node:path';
import { createAdapter } from '../adapters/registry.js';
import { type AdminAuth, createAdminAuth } from './admin-auth.js';
import { createAuditLog } from './audit/index.js';
import type { AuditLog } from './audit/types.js';
import type { LoadedConfig } from './config/load.js';
import { resolveSecretRef } from './config/secret-ref.js';
import { LiveConnections } from './connections.js';
import type { Gateway } from './gateway.js';
import { createIdentityVerifier } from './identity/index.js';
import { createLeaseCipher } from './leases/crypto.js';
import { Revoker } from './leases/revoker.js';
import { LeaseService } from './leases/service.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPolicyEngine } from './policy/engine.js';
import { createUpstreamPool } from './proxy/forward.js';
import { UpstreamSlots } from './proxy/slots.js';
import { createStore } from './store/index.js';
import type { TargetRuntime } from './targets.js';
import { TaskService } from './tasks/service.js';
import { every } from './timers.js';

export interface RunningGateway extends Gateway {
  /** SHA-256 of the enforced policy set, and whether the revocation subscription is live (for /readyz). */
  readonly state: { subscribed: boolean; draining: boolean };
  readonly baseDir: string;
  /** The admin listener's credential check (admin-auth.ts), built at start so a bad `admin.token` stops it. */
  readonly adminAuth: AdminAuth;
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly log: Logger;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => number;
  readonly metrics?: Metrics;
  /** Periodic sweep of expired tasks' leases (ms); 0 disables it. */
  readonly sweepIntervalMs?: number;
  /** How often the close outbox is checked for closes another replica did not finish (ms); 0 disables it. */
  readonly outboxIntervalMs?: number;
}

async function buildTargets(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  now: () => number,
  tokenHeaders: readonly string[],
) {
  const targets = new Map<string, TargetRuntime>();
  for (const [i, config] of loaded.config.targets.entries()) {
    const adapter = await createAdapter(config.credential, {
      resolveSecret: (ref) => resolveSecretRef(ref, loaded.baseDir, env),
      path: `targets[${i}].credential`,
      baseDir: loaded.baseDir,
      now,
    });
    const url = new URL(config.upstream);
    targets.set(config.name, {
      config,
      adapter,
      pool: createUpstreamPool(config),
      slots: new UpstreamSlots({
        max: config.pool.connections,
        maxQueued: config.pool.maxQueued,
        timeoutMs: config.pool.queueTimeoutMs,
      }),
      basePath: url.pathname.replace(/\/+$/, ''),
      origin: url.origin,
      facts: { name: config.name, attributes: config.attributes },
      allowedResponseHeaders: new Set(config.allowResponseHeaders),
      tokenHeaders: new Set([...tokenHeaders, ...(config.identityHeader ? [config.identityHeader] : [])]),
    });
  }
  return targets;
}

/** Build every component from a validated config. Any failure here stops start-up (fail closed). */
export async function createGateway(loaded: LoadedConfig, options: GatewayOptions): Promise<RunningGateway> {
  const { config, baseDir } = loaded;
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const log = options.log;
  const metrics = options.metrics ?? createMetrics({ defaultMetrics: true });
  const secret = (ref: string) => resolveSecretRef(ref, baseDir, env);
  const adminAuth = createAdminAuth(config.admin, secret);
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
  const cipher = createLeaseCipher(
    secret(config.keys.leaseEncryption),
    config.keys.leaseEncryptionPrevious.map(secret),
  );
  const identity = await createIdentityVerifier(config.identity, {
    baseDir,
    now,
    ...(store.redis ? { redis: store.redis, redisPrefix: config.storePrefix } : {}),
  });
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
  const targets = await buildTargets(loaded, env, now, identity.tokenHeaders);
  metrics.initializeSeries({
    targets: [...targets.values()].map((t) => ({ name: t.config.name, adapter: t.adapter.kind })),
    auditSinks: config.audit.sinks.flatMap((spec) =>
      spec === 'none' ? [] : [spec.startsWith('file:') ? 'file' : spec],
    ),
  });
  const tasks = new TaskService({ store, limits: config.tasks, targetNames: new Set(targets.keys()), now });
  let revoker: Revoker | undefined;
  const leases = new LeaseService({
    store,
    cipher,
    audit,
    auditFailMode: config.audit.failMode,
    metrics,
    now,
    log,
    onRetired: (lease, reason, task) => revoker?.retire(lease, reason, task),
  });
  const connections = new LiveConnections(now, (reason) => metrics.connectionsCut.inc({ reason }));
  revoker = new Revoker({
    store,
    tasks,
    leases,
    connections,
    adapterFor: (t) => targets.get(t)?.adapter,
    audit,
    metrics,
    log,
    now,
  });
  const state = { subscribed: false, draining: false };
  await revoker.listen((healthy) => {
    state.subscribed = healthy;
  });
  metrics.setActiveLeasesSource(() => leases.cache.size);
  const sweepers = [
    every(options.sweepIntervalMs ?? 10_000, () => revoker.sweepExpired(), log, 'expired-lease sweep failed'),
    every(options.outboxIntervalMs ?? 1_000, () => revoker.closing.sweepOutbox(), log, 'close outbox sweep failed'),
  ];

  return {
    config,
    targets,
    identity,
    policy,
    tasks,
    leases,
    revoker,
    connections,
    store,
    audit,
    metrics,
    log,
    now,
    state,
    baseDir,
    adminAuth,
    async close() {
      for (const sweeper of sweepers) clearInterval(sweeper);
      revoker.closing.stop();
      policy.close();
      identity.close();
      await revoker.queue.drain();
      revoker.queue.close();
      await Promise.all([...targets.values()].map((t) => t.pool.close()));
      await audit.close();
      await store.close();
    },
  };
}
