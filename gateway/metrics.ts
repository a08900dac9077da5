import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

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
  readonly leasesIssued: Counter<'target' | 'adapter'>;
  readonly leasesRevoked: Counter<'reason'>;
  readonly leasesActive: Gauge<string>;
  readonly storeErrors: Counter<string>;
  readonly policyReloads: Counter<'result'>;
  readonly upstreamErrors: Counter<'target' | 'kind'>;
  readonly auditSinkErrors: Counter<'sink'>;
  readonly auditEventsDropped: Counter<'sink'>;
  readonly auditFieldsRefused: Counter<string>;
  readonly limitsExceeded: Counter<'limit'>;
  /** 0 closed, 1 open, 2 half-open (gateway/proxy/breaker.ts). */
  readonly circuitState: Gauge<'target'>;
  readonly circuitOpens: Counter<'target'>;
  /** Where `escrow_leases_active` reads its value at scrape time. */
  setActiveLeasesSource(source: () => number): void;
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
  return {
    setActiveLeasesSource(source) {
      activeLeases = source;
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
      registers,
    }),
    circuitOpens: new Counter({
      name: 'escrow_circuit_open_total',
      help: 'Times a target’s circuit breaker opened',
      labelNames: ['target'],
      registers,
    }),
  };
}
