import { resolve } from 'node:path';
import { type AdminAuth, createAdminAuth } from './admin-auth.js';
import { approvalForOpen, createApprovals } from './approvals/index.js';
import { auditSinks, sinkKinds } from './audit/config.js';
import { createAuditLog } from './audit/index.js';
import type { AuditLog } from './audit/types.js';
import { explainError } from './cause.js';
import { Closers, openOrClose } from './closers.js';
import type { LoadedConfig } from './config/load.js';
import { resolveSecretRef } from './config/secret-ref.js';
import { LiveConnections } from './connections.js';
import type { Gateway } from './gateway.js';
import { createIdentityVerifier } from './identity/index.js';
import { InFlightPerPrincipal } from './in-flight.js';
import { createLeaseCipher } from './leases/crypto.js';
import { Revoker } from './leases/revoker.js';
import { LeaseService } from './leases/service.js';
import type { Logger } from './log.js';
import { createMcpRuntime } from './mcp/runtime.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPolicyEngine, type LoadedPolicyEngine } from './policy/engine.js';
import { createPostgresListeners, type PostgresListener } from './postgres/index.js';
import { CIRCUIT_GAUGE, type CircuitState } from './proxy/breaker.js';
import { SecretRegistry } from './scrub/registry.js';
import { createStore } from './store/index.js';
import { buildTargetRuntime, createTargetAdapters, type TargetRuntime, TargetTable } from './targets.js';
import { TaskService } from './tasks/service.js';
import { every } from './timers.js';

export interface RunningGateway extends Gateway {
  /** SHA-256 of the enforced policy set, and whether the revocation subscription is live (for /readyz). */
  readonly state: { subscribed: boolean; draining: boolean };
  readonly baseDir: string;
  /** The targets' current snapshot; a reload swaps it (gateway/reload.ts). */
  readonly targets: TargetTable;
  /** The policy engine, with the reload a SIGHUP asks of it. */
  readonly policy: LoadedPolicyEngine;
  /** One listener per `protocol: postgres` target (started by gateway/server.ts, stopped by `close`). */
  readonly postgres: readonly PostgresListener[];
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

/** `escrow_circuit_state{target}` and `escrow_circuit_open_total{target}`, kept by every target's breaker. */
export function circuitMetrics(metrics: Metrics) {
  return (target: string, state: CircuitState): void => {
    metrics.circuitState.set({ target }, CIRCUIT_GAUGE[state]);
    if (state === 'open') metrics.circuitOpens.inc({ target });
  };
}

async function buildTargets(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  now: () => number,
  tokenHeaders: readonly string[],
  metrics: Metrics,
  closers: Closers,
  secrets: SecretRegistry,
): Promise<TargetTable> {
  const targets = new Map<string, TargetRuntime>();
  const adapters = await createTargetAdapters(loaded.config.targets, {
    resolveSecret: registeringResolver(secrets, 'targets', loaded.baseDir, env),
    baseDir: loaded.baseDir,
    now,
  });
  for (const config of loaded.config.targets) {
    const adapter = adapters.get(config.name)!;
    targets.set(
      config.name,
      buildTargetRuntime(config, adapter, { tokenHeaders, onCircuitState: circuitMetrics(metrics) }),
    );
  }
  const table = new TargetTable(targets);
  // The pools and adapters of the snapshot in force at shutdown (a reload closes the ones it replaces).
  closers.add(() => Promise.all([...table.values()].map((t) => t.adapter.close?.())));
  closers.add(() => Promise.all([...table.values()].map((t) => t.pool?.close())));
  return table;
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
  const adminAuth = createAdminAuth(config.admin, secret);
  const store = await createStore({
    url: config.store,
    prefix: config.storePrefix,
    timeoutMs: config.storeTimeoutMs,
    ...(config.storePassword ? { password: secret(config.storePassword) } : {}),
    streamMaxLen: config.audit.streamMaxLen,
    streamRetentionMs: config.audit.streamRetentionSeconds * 1000,
    onStreamLength: (entries) => metrics.auditStreamFill.set(entries / config.audit.streamMaxLen),
    onError: (error) => {
      metrics.storeErrors.inc();
      log.warn({ err: error.message }, 'store command failed');
    },
  });
  closers.add(() => store.close());
  const sinks = auditSinks(config);
  const audit: AuditLog = createAuditLog({
    hmacKey: secret(config.keys.auditHmac),
    sinks,
    events: store.events,
    failMode: config.audit.failMode,
    fileSync: config.audit.fileSync,
    commitTimeoutMs: config.audit.commitTimeoutMs,
    maxQueue: config.audit.maxQueue,
    noise: { intervalMs: config.audit.noise.intervalSeconds * 1000, maxKeys: config.audit.noise.maxKeys },
    baseDir,
    now,
    onSinkError: (sink, error) => {
      metrics.auditSinkErrors.inc({ sink });
      // The store wraps Redis' errors (store_unavailable): say what Redis said (OOM, ESCROWFULL, a timeout).
      const cause = error.cause instanceof Error ? error.cause : error;
      log.warn({ sink, err: cause.message }, 'audit sink write failed');
    },
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
  const targets = await buildTargets(loaded, env, now, identity.tokenHeaders, metrics, closers, secrets);
  metrics.initializeSeries({
    targets: [...targets.values()].map((t) => ({ name: t.config.name, adapter: t.adapter.kind })),
    auditSinks: sinkKinds(sinks),
    issuers: config.identity.issuers.map((issuer) => issuer.name),
  });
  const tasks = new TaskService({
    store,
    limits: config.tasks,
    targetNames: new Set(targets.keys()),
    now,
    approvalFor: approvalForOpen,
  });
  const mcp = createMcpRuntime({
    store,
    prefix: config.storePrefix,
    registry: metrics.registry,
    now,
    targets: config.targets.filter((t) => t.protocol === 'mcp').map((t) => t.name),
  });
  let revoker: Revoker | undefined;
  const leases = new LeaseService({
    store,
    cipher,
    audit,
    metrics,
    now,
    log,
    cacheListener: {
      added: (lease) => secrets.addCredential(lease.credential),
      removed: (lease) => secrets.removeCredential(lease.credential),
    },
    onRetired: (lease, reason, task) => revoker?.retire(lease, reason, task),
  });
  const connections = new LiveConnections(now, (reason) => metrics.connectionsCut.inc({ reason }));
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
    connections,
    adapterFor: (t) => targets.get(t)?.adapter,
    audit,
    metrics,
    log,
    now,
    // Approval notices settle waiting approvals (on every replica).
    onNotice: (message) => approvals.onNotice(message),
  });
  const { queue } = revoker;
  closers.add(async () => {
    await queue.drain();
    queue.close();
  });
  const state = { subscribed: false, draining: false };
  const parts = {
    config,
    targets,
    identity,
    policy,
    tasks,
    leases,
    revoker,
    approvals,
    secrets,
    connections,
    inFlight: new InFlightPerPrincipal(config.proxy.maxConcurrentPerPrincipal),
    store,
    audit,
    metrics,
    mcp,
    log,
    now,
  };
  const postgres = createPostgresListeners(parts, loaded, secret);
  for (const listener of postgres) closers.add(() => listener.close());
  await revoker.listen((healthy) => {
    state.subscribed = healthy;
  });
  metrics.setActiveLeasesSource(() => leases.cache.size);
  const sweepers = [
    every(options.sweepIntervalMs ?? 10_000, () => revoker.sweepExpired(), log, 'expired-lease sweep failed'),
    every(options.outboxIntervalMs ?? 1_000, () => revoker.closing.sweepOutbox(), log, 'close outbox sweep failed'),
    every(options.approvalSweepMs ?? 1_000, () => approvals.sweep(), log, 'approval expiry sweep failed'),
  ];
  closers.add(() => {
    for (const sweeper of sweepers) clearInterval(sweeper);
    revoker.closing.stop();
  });

  return {
    ...parts,
    state,
    baseDir,
    postgres,
    adminAuth,
    async close() {
      await closers.closeAll();
    },
  };
}
