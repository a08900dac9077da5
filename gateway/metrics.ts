import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import {
  CUT_REASONS,
  IDENTITY_REASONS,
  LIMIT_NAMES,
  RELOAD_RESULTS,
  REVOCATION_REASONS,
  UPSTREAM_ERROR_KINDS,
} from './metric-labels.js';

/**
 * Escrow's Prometheus metrics (prefix `escrow_`). Label values are bounded: target names come from
 * config, reasons and kinds from code. No label ever carries a token, a secret, a task id or a workload id.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly requestsTotal: Counter<'target' | 'decision' | 'code_class'>;
  /** `phase` is `gateway` (Escrow's own overhead) or `upstream` (time spent waiting on the upstream). */
  readonly requestDuration: Histogram<'target' | 'phase'>;
  readonly policyEvaluation: Histogram<string>;
  readonly identityFailures: Counter<'reason'>;
  /** Failed reads of an issuer's key set (JWKS URL, discovery document or file); `issuer` is its config name. */
  readonly identityKeyFetchFailures: Counter<'issuer'>;
  readonly leasesIssued: Counter<'target' | 'adapter'>;
  readonly leasesRevoked: Counter<'reason'>;
  readonly leasesActive: Gauge<string>;
  readonly storeErrors: Counter<string>;
  readonly policyReloads: Counter<'result'>;
  /** Every SIGHUP outcome: `applied`, `restart_required`, or why it was rejected (gateway/reload.ts). */
  readonly configReloads: Counter<'result'>;
  readonly upstreamErrors: Counter<'target' | 'kind'>;
  readonly auditSinkErrors: Counter<'sink'>;
  readonly auditEventsDropped: Counter<'sink'>;
  readonly auditFieldsRefused: Counter<string>;
  /** Entries in the Redis audit stream over `audit.streamMaxLen`: at 1 batches are refused (fail closed). */
  readonly auditStreamFill: Gauge<string>;
  readonly limitsExceeded: Counter<'limit'>;
  /** 0 closed, 1 open, 2 half-open (gateway/proxy/breaker.ts). */
  readonly circuitState: Gauge<'target'>;
  readonly circuitOpens: Counter<'target'>;
  /** Live connections (streams, WebSockets) cut because their task closed or expired, or a kill switch. */
  readonly connectionsCut: Counter<'reason'>;
  /** Where `escrow_leases_active` reads its value at scrape time. */
  setActiveLeasesSource(source: () => number): void;
  /** The text `/metrics` answers: this registry's, or the whole cluster's under `--workers` (cluster-metrics.ts). */
  exposition(): Promise<string>;
  setExpositionSource(source: () => Promise<string>): void;
  /**
   * Start at 0 every series whose labels are known before anything happens: the code's reasons, limits and
   * kinds, and the configured targets and audit sinks. A counter series born at 1 hides its first increase from
   * `rate()`/`increase()` (an alert on the first audit sink error would never fire), and a dashboard panel
   * shows 0 instead of "no data".
   */
  initializeSeries(known: KnownSeries): void;
}

/** The label values known from config at start-up. */
export interface KnownSeries {
  readonly targets: readonly { readonly name: string; readonly adapter: string }[];
  /** Sink names (`stdout`, `stderr`, `file`, `redis`). */
  readonly auditSinks: readonly string[];
  /** Identity issuer names (`identity.issuers[].name`). */
  readonly issuers?: readonly string[];
}

export interface MetricsOptions {
  /** Collect process and Node.js metrics too (off in tests that create many registries). */
  readonly defaultMetrics?: boolean;
}

const latencyBuckets = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'escrow_' });
  const registers = [registry];
  let activeLeases: () => number = () => 0;
  let exposition = () => registry.metrics();
  const metrics: Metrics = {
    setActiveLeasesSource(source) {
      activeLeases = source;
    },
    exposition: () => exposition(),
    setExpositionSource(source) {
      exposition = source;
    },
    initializeSeries(known) {
      for (const reason of IDENTITY_REASONS) metrics.identityFailures.inc({ reason }, 0);
      for (const reason of REVOCATION_REASONS) metrics.leasesRevoked.inc({ reason }, 0);
      for (const limit of LIMIT_NAMES) metrics.limitsExceeded.inc({ limit }, 0);
      for (const result of ['ok', 'rejected']) metrics.policyReloads.inc({ result }, 0);
      for (const issuer of known.issuers ?? []) metrics.identityKeyFetchFailures.inc({ issuer }, 0);
      for (const result of RELOAD_RESULTS) metrics.configReloads.inc({ result }, 0);
      for (const reason of CUT_REASONS) metrics.connectionsCut.inc({ reason }, 0);
      for (const sink of known.auditSinks) {
        metrics.auditSinkErrors.inc({ sink }, 0);
        metrics.auditEventsDropped.inc({ sink }, 0);
      }
      for (const { name: target, adapter } of known.targets) {
        // The deny-spike alert compares with the previous hour: that hour must exist on a replica that never denied.
        metrics.requestsTotal.inc({ target, decision: 'deny', code_class: '4xx' }, 0);
        metrics.leasesIssued.inc({ target, adapter }, 0);
        metrics.circuitOpens.inc({ target }, 0);
        for (const kind of UPSTREAM_ERROR_KINDS) metrics.upstreamErrors.inc({ target, kind }, 0);
      }
    },
    registry,
    requestsTotal: new Counter({
      name: 'escrow_requests_total',
      help: 'Proxied requests by target, decision and status class',
      labelNames: ['target', 'decision', 'code_class'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'escrow_request_duration_seconds',
      help: 'Request time split into Escrow overhead (phase=gateway) and upstream time (phase=upstream)',
      labelNames: ['target', 'phase'],
      buckets: latencyBuckets,
      registers,
    }),
    policyEvaluation: new Histogram({
      name: 'escrow_policy_evaluation_seconds',
      help: 'Cedar evaluation time per decision',
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
      registers,
    }),
    identityFailures: new Counter({
      name: 'escrow_identity_failures_total',
      help: 'Rejected workload identities by reason',
      labelNames: ['reason'],
      registers,
    }),
    identityKeyFetchFailures: new Counter({
      name: 'escrow_identity_key_fetch_failures_total',
      help: 'Failed reads of an identity issuer’s key set (JWKS, discovery or file) by issuer',
      labelNames: ['issuer'],
      registers,
    }),
    leasesIssued: new Counter({
      name: 'escrow_leases_issued_total',
      help: 'Credentials issued for leases',
      labelNames: ['target', 'adapter'],
      registers,
    }),
    leasesRevoked: new Counter({
      name: 'escrow_leases_revoked_total',
      help: 'Leases revoked by reason',
      labelNames: ['reason'],
      registers,
    }),
    leasesActive: new Gauge({
      name: 'escrow_leases_active',
      help: 'Leases held in this replica’s cache',
      registers,
      collect() {
        this.set(activeLeases());
      },
    }),
    storeErrors: new Counter({ name: 'escrow_store_errors_total', help: 'Store (Redis) failures', registers }),
    policyReloads: new Counter({
      name: 'escrow_policy_reloads_total',
      help: 'Policy set reloads by result',
      labelNames: ['result'],
      registers,
    }),
    configReloads: new Counter({
      name: 'escrow_config_reloads_total',
      help: 'SIGHUP config reloads by result: applied, restart_required, or the reason it was rejected',
      labelNames: ['result'],
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'escrow_upstream_errors_total',
      help: 'Upstream failures by target and kind',
      labelNames: ['target', 'kind'],
      registers,
    }),
    auditSinkErrors: new Counter({
      name: 'escrow_audit_sink_errors_total',
      help: 'Audit events a sink failed to write',
      labelNames: ['sink'],
      registers,
    }),
    auditEventsDropped: new Counter({
      name: 'escrow_audit_events_dropped_total',
      help: 'Audit events dropped because a failing sink’s bounded queue overflowed',
      labelNames: ['sink'],
      registers,
    }),
    auditFieldsRefused: new Counter({
      name: 'escrow_audit_fields_refused_total',
      help: 'Audit event fields refused because they looked like a token',
      registers,
    }),
    auditStreamFill: new Gauge({
      name: 'escrow_audit_stream_fill_ratio',
      help: 'Entries in the Redis audit stream over audit.streamMaxLen, after this replica’s last batch (at 1 the stream refuses)',
      // Every replica writes the same stream: the cluster shows the fullest reading.
      aggregator: 'max',
      registers,
    }),
    limitsExceeded: new Counter({
      name: 'escrow_limits_exceeded_total',
      help: 'Requests refused by a size, time or concurrency limit',
      labelNames: ['limit'],
      registers,
    }),
    circuitState: new Gauge({
      name: 'escrow_circuit_state',
      help: 'Upstream circuit breaker state by target: 0 closed, 1 open, 2 half-open',
      labelNames: ['target'],
      // Under --workers each worker has its own breaker: the cluster shows the highest state number of any worker
      // (one open breaker shows 1 at least; 2 when some worker is probing).
      aggregator: 'max',
      registers,
    }),
    circuitOpens: new Counter({
      name: 'escrow_circuit_open_total',
      help: 'Times a target’s circuit breaker opened',
      labelNames: ['target'],
      registers,
    }),
    connectionsCut: new Counter({
      name: 'escrow_connections_cut_total',
      help: 'Live connections cut because their task was closed or expired, or by a kill switch',
      labelNames: ['reason'],
      registers,
    }),
  };
  return metrics;
}
