import type { AuditEventInput } from './types.js';

export interface NoiseOptions {
  /** Length of one aggregation window. */
  readonly intervalMs: number;
  /** Distinct denials recorded in full per window; the rest are counted per event and reason only. */
  readonly maxKeys: number;
  readonly now: () => number;
}

interface Bucket {
  readonly sample: AuditEventInput;
  readonly from: number;
  to: number;
  count: number;
}

/** Requests refused before or by policy, and rejected identities: what a flood is made of. */
function isNoise(event: AuditEventInput): boolean {
  if (event.event === 'identity.rejected') return true;
  return event.event === 'request' && event.decision === 'deny' && event.leaseId === undefined;
}

/** What makes two denials "the same": who (source and principal) asked what, and why it was refused. */
function keyOf(event: AuditEventInput): string {
  return JSON.stringify([
    event.event,
    event.reason,
    event.status,
    event.client,
    event.principal?.issuer,
    event.principal?.id,
    event.task?.id,
    event.target,
    event.method,
    event.path,
  ]);
}

/** The members of a denial that name what was repeated (never a request id or a decision id: they differ). */
function summaryOf(bucket: Bucket, overflow: boolean): AuditEventInput {
  const { sample } = bucket;
  const same = overflow
    ? { reason: sample.reason }
    : {
        reason: sample.reason,
        status: sample.status,
        client: sample.client,
        principal: sample.principal,
        task: sample.task,
        target: sample.target,
        method: sample.method,
        path: sample.path,
      };
  return {
    event: 'denials.aggregated',
    of: sample.event,
    decision: 'deny',
    ...same,
    count: bucket.count,
    from: new Date(bucket.from).toISOString(),
    to: new Date(bucket.to).toISOString(),
    ...(overflow ? { overflow: true } : {}),
  };
}

/**
 * Aggregates repeated identical denials per window, so that request-rate noise (an unauthenticated flood, an agent
 * hammering a path it may not use) costs the trail a bounded number of events whatever its rate: the first of each
 * kind per window is recorded in full; repeats are counted and recorded once at the end of the window
 * (`denials.aggregated`, with `count`, `from`, `to`). Past `maxKeys` kinds in a window, further kinds are counted
 * per event and reason only. At most 2 × maxKeys + (events × reasons) events per window.
 */
export class NoiseAggregator {
  readonly #options: NoiseOptions;
  readonly #emit: (event: AuditEventInput) => void;
  #window = new Map<string, Bucket>();
  #overflow = new Map<string, Bucket>();
  readonly #timer: NodeJS.Timeout;

  constructor(options: NoiseOptions, emit: (event: AuditEventInput) => void) {
    this.#options = options;
    this.#emit = emit;
    this.#timer = setInterval(() => this.flush(), options.intervalMs).unref();
  }

  /** True when the event was counted into its window (the caller must not record it itself). */
  absorb(event: AuditEventInput): boolean {
    if (!isNoise(event)) return false;
    const key = keyOf(event);
    const bucket = this.#window.get(key);
    const now = this.#options.now();
    if (bucket) {
      bucket.count += 1;
      bucket.to = now;
      return true;
    }
    if (this.#window.size < this.#options.maxKeys) {
      this.#window.set(key, { sample: event, from: now, to: now, count: 0 });
      return false;
    }
    const kind = `${event.event}\u0000${event.reason}`;
    const other = this.#overflow.get(kind);
    if (other) {
      other.count += 1;
      other.to = now;
    } else {
      this.#overflow.set(kind, { sample: event, from: now, to: now, count: 1 });
    }
    return true;
  }

  /** Ends the window: one `denials.aggregated` event per kind that repeated. */
  flush(): void {
    const [window, overflow] = [this.#window, this.#overflow];
    this.#window = new Map();
    this.#overflow = new Map();
    for (const bucket of window.values()) if (bucket.count > 0) this.#emit(summaryOf(bucket, false));
    for (const bucket of overflow.values()) this.#emit(summaryOf(bucket, true));
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}
