import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a connection was refused or ended: a bounded label (never a task, role, database or workload). */
export const CONNECTION_OUTCOMES = [
  'opened',
  'identity',
  'task',
  'policy',
  'limit',
  'protocol',
  'tls_required',
  'unavailable',
  'upstream',
  'internal',
] as const;
export type ConnectionOutcome = (typeof CONNECTION_OUTCOMES)[number];

/** The PostgreSQL listeners' metrics (`escrow_postgres_*`), registered once per gateway on its registry. */
export interface PostgresMetrics {
  readonly connections: Counter<'target' | 'outcome'>;
  readonly active: Gauge<'target'>;
  /** TLS, startup, identity, task, policy, lease and the upstream login: what an agent waits for before its first query. */
  readonly connectSeconds: Histogram<'target'>;
  readonly sessionSeconds: Histogram<'target'>;
  /** `direction`: `to_server` (agent → database) or `to_client` (database → agent). */
  readonly bytes: Counter<'target' | 'direction'>;
  readonly cancels: Counter<'target' | 'result'>;
  /** Start every known series at 0 (alerts see the first increase). */
  initialize(target: string): void;
}

export function createPostgresMetrics(registry: Registry): PostgresMetrics {
  const registers = [registry];
  const metrics: PostgresMetrics = {
    connections: new Counter({
      name: 'escrow_postgres_connections_total',
      help: 'PostgreSQL client connections by target and outcome (opened, or why they were refused)',
      labelNames: ['target', 'outcome'],
      registers,
    }),
    active: new Gauge({
      name: 'escrow_postgres_sessions_active',
      help: 'PostgreSQL sessions being relayed',
      labelNames: ['target'],
      registers,
    }),
    connectSeconds: new Histogram({
      name: 'escrow_postgres_connect_seconds',
      help: 'Time from a client connection to its session being ready (TLS, identity, policy, lease, upstream login)',
      labelNames: ['target'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    sessionSeconds: new Histogram({
      name: 'escrow_postgres_session_duration_seconds',
      help: 'How long relayed PostgreSQL sessions lasted',
      labelNames: ['target'],
      buckets: [0.01, 0.1, 1, 10, 60, 300, 900, 3600, 14_400, 86_400],
      registers,
    }),
    bytes: new Counter({
      name: 'escrow_postgres_bytes_total',
      help: 'Bytes relayed by direction (to_server: agent to database, to_client: database to agent)',
      labelNames: ['target', 'direction'],
      registers,
    }),
    cancels: new Counter({
      name: 'escrow_postgres_cancel_requests_total',
      help: 'Cancel requests: forwarded to the session they name, or ignored (unknown key)',
      labelNames: ['target', 'result'],
      registers,
    }),
    initialize(target) {
      for (const outcome of CONNECTION_OUTCOMES) metrics.connections.inc({ target, outcome }, 0);
      for (const direction of ['to_server', 'to_client']) metrics.bytes.inc({ target, direction }, 0);
      for (const result of ['forwarded', 'ignored']) metrics.cancels.inc({ target, result }, 0);
      metrics.active.set({ target }, 0);
    },
  };
  return metrics;
}

/** The outcome label for a refusal (by Escrow error code). */
export function outcomeOf(code: string, reason: string | undefined): ConnectionOutcome {
  if (reason === 'tls_required') return 'tls_required';
  if (code === 'identity_missing' || code === 'identity_rejected') return 'identity';
  if (code.startsWith('task_') && code !== 'task_limit') return 'task';
  if (code === 'policy_denied') return 'policy';
  if (code === 'task_limit' || code === 'too_many_requests') return 'limit';
  if (code === 'store_unavailable' || code === 'audit_unavailable' || code === 'credential_unavailable') {
    return 'unavailable';
  }
  if (code.startsWith('upstream_')) return 'upstream';
  if (code === 'internal' || code === 'config_invalid') return 'internal';
  return 'protocol';
}
