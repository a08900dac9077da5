import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const OUTCOMES = ['granted', 'denied', 'expired', 'cancelled'] as const;
export type ApprovalOutcome = (typeof OUTCOMES)[number];
export const REFUSALS = ['not_human', 'requester', 'policy_denied', 'not_found', 'settled'] as const;
export type RefusalReason = (typeof REFUSALS)[number];
const KINDS = ['task', 'request'] as const;

/**
 * The approvals' metrics, registered on Escrow's registry (prefix `escrow_`). Labels are bounded: kinds, outcomes
 * and reasons come from code; never an approval id, a task id or a person.
 */
export interface ApprovalMetrics {
  /** Read at scrape time from the store: every replica reports the same number (summed as `max` under workers). */
  readonly pending: Gauge<string>;
  readonly decisions: Counter<'kind' | 'outcome'>;
  /** From request to decision (or expiry, or cancellation). */
  readonly timeToDecision: Histogram<'kind' | 'outcome'>;
  /** Attempts to decide that were refused (an agent token, the requester, a person policy does not permit). */
  readonly refusals: Counter<'reason'>;
  readonly notifications: Counter<'result'>;
}

export function createApprovalMetrics(registry: Registry, pendingCount: () => Promise<number>): ApprovalMetrics {
  const registers = [registry];
  let last = 0;
  const metrics: ApprovalMetrics = {
    pending: new Gauge({
      name: 'escrow_approvals_pending',
      help: 'Approval requests waiting for a person (all replicas: read from the store)',
      aggregator: 'max',
      registers,
      async collect() {
        // A store that cannot answer keeps the last value: /metrics must not fail with it.
        last = await pendingCount().catch(() => last);
        this.set(last);
      },
    }),
    decisions: new Counter({
      name: 'escrow_approval_decisions_total',
      help: 'Approval requests settled, by kind and outcome (granted, denied, expired, cancelled)',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    timeToDecision: new Histogram({
      name: 'escrow_approval_decision_seconds',
      help: 'Time from an approval request to its outcome',
      labelNames: ['kind', 'outcome'],
      buckets: [5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
      registers,
    }),
    refusals: new Counter({
      name: 'escrow_approval_refusals_total',
      help: 'Attempts to decide an approval that were refused, by reason',
      labelNames: ['reason'],
      registers,
    }),
    notifications: new Counter({
      name: 'escrow_approval_notifications_total',
      help: 'Approval webhook deliveries by result (delivered, retried, failed, dropped)',
      labelNames: ['result'],
      registers,
    }),
  };
  for (const kind of KINDS) for (const outcome of OUTCOMES) metrics.decisions.inc({ kind, outcome }, 0);
  for (const reason of REFUSALS) metrics.refusals.inc({ reason }, 0);
  for (const result of ['delivered', 'retried', 'failed', 'dropped']) metrics.notifications.inc({ result }, 0);
  return metrics;
}
