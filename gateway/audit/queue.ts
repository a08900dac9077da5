import type { AuditSink } from './types.js';

export interface SinkQueueOptions {
  /** Lines held per sink while it is failing; beyond this the oldest are dropped and counted. */
  readonly maxQueue: number;
  readonly batchSize: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** A write that has not settled by then makes the sink unhealthy (a hung Redis must not look healthy). */
  readonly writeTimeoutMs: number;
  readonly onError: (sink: string, error: Error) => void;
  readonly onDrop: (sink: string, count: number) => void;
}

/** Called once the lines of one `push` are written, or with an error once any of them was dropped. */
export type Written = (error?: Error) => void;

/** The lines bound for one sink, written in batches, one write at a time, retried with backoff. */
export interface SinkQueue {
  readonly name: string;
  readonly healthy: boolean;
  readonly pending: number;
  readonly dropped: number;
  /** Queue the next lines of the writer's chain (their seqs follow the previous push's). */
  push(lines: readonly string[], written?: Written): void;
  /** Writes what is queued now; resolves after success, or after one failed attempt. */
  flush(): Promise<void>;
  close(): void;
}

interface Mark {
  readonly start: number;
  readonly end: number;
  readonly written: Written;
}

const dropError = (): Error => new Error('audit events dropped: the sink was failing for too long');

/**
 * One sink's queue. Invariants: lines are written in seq order, one write in flight at a time (a write that timed
 * out is waited for before the next, so a late success cannot land after its retry), and every write is one
 * consecutive run of seqs starting at `base`, so a sink can tell a retry from new events.
 */
export function createSinkQueue(sink: AuditSink, options: SinkQueueOptions): SinkQueue {
  const queue: string[] = [];
  const marks: Mark[] = [];
  let base = 0; // seq of queue[0]
  let inflight = 0; // lines at the head of the queue being written
  let skipped = 0; // seqs dropped behind the lines in flight: queue[i ≥ inflight] has seq base + i + skipped
  let healthy = true;
  let dropped = 0;
  let delay = options.retryInitialMs;
  let current: Promise<void> | undefined;
  // Settles when the write in flight has taken longer than writeTimeoutMs (flush does not wait for a hung sink).
  let stalled: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let closed = false;

  /** Resolves the marks whose lines are all written. */
  const settle = (): void => {
    while (marks.length > 0 && marks[0]!.end <= base) marks.shift()!.written();
  };
  /** Drops `count` queued lines at `index` (seqs from `first`) and fails every mark that held one of them. */
  const drop = (index: number, count: number, first: number): void => {
    queue.splice(index, count);
    dropped += count;
    options.onDrop(sink.name, count);
    for (let i = marks.length - 1; i >= 0; i--) {
      const mark = marks[i]!;
      if (mark.start < first + count && mark.end > first) {
        marks.splice(i, 1);
        mark.written(dropError());
      }
    }
  };
  /** Oldest first. Lines in flight stay: if their write fails they are dropped then, being older still. */
  const dropOldest = (): void => {
    const excess = queue.length - options.maxQueue;
    if (excess <= 0) return;
    if (inflight === 0) {
      drop(0, excess, base);
      base += excess;
      return;
    }
    const count = Math.min(excess, queue.length - inflight);
    drop(inflight, count, base + inflight + skipped);
    skipped += count;
  };

  const failed = (error: Error): void => {
    healthy = false;
    options.onError(sink.name, error);
    if (skipped > 0) {
      // Lines behind this batch were dropped while it was in flight: the batch is older, so it goes too, and what
      // stays queued is one consecutive run again.
      drop(0, inflight, base);
      base += inflight + skipped;
      skipped = 0;
    }
    if (!closed) timer = setTimeout(retry, delay).unref();
    delay = Math.min(delay * 2, options.retryMaxMs);
  };

  const writeOne = async (): Promise<boolean> => {
    inflight = Math.min(queue.length, options.batchSize);
    const attempt = sink.write(queue.slice(0, inflight), base);
    let watchdog: NodeJS.Timeout | undefined;
    stalled = new Promise<void>((resolve) => {
      watchdog = setTimeout(() => {
        healthy = false;
        options.onError(sink.name, new Error('audit sink write timed out'));
        resolve();
      }, options.writeTimeoutMs);
    });
    try {
      await attempt;
    } catch (error) {
      failed(error instanceof Error ? error : new Error(String(error)));
      inflight = 0;
      return false;
    } finally {
      clearTimeout(watchdog);
    }
    queue.splice(0, inflight);
    base += inflight + skipped;
    inflight = 0;
    skipped = 0;
    healthy = true;
    delay = options.retryInitialMs;
    settle();
    return true;
  };

  const drain = async (): Promise<void> => {
    while (queue.length > 0 && (await writeOne()));
  };

  const kick = (): Promise<void> => {
    current ??= drain().finally(() => {
      current = undefined;
    });
    return current;
  };

  function retry(): void {
    timer = undefined;
    void kick();
  }

  return {
    name: sink.name,
    get healthy() {
      return healthy;
    },
    get pending() {
      return queue.length;
    },
    get dropped() {
      return dropped;
    },
    push(lines, written) {
      const start = base + queue.length + skipped;
      for (const line of lines) queue.push(line);
      if (written) marks.push({ start, end: start + lines.length, written });
      dropOldest();
      // While failing, the retry timer owns the next attempt: no write per record against a dead sink.
      if (current || timer || immediate) return;
      immediate = setImmediate(() => {
        immediate = undefined;
        void kick();
      });
    },
    async flush() {
      for (;;) {
        if (current) {
          await Promise.race([current, stalled]);
          if (!healthy) return;
        } else if (queue.length === 0) {
          return;
        } else {
          clearTimeout(timer);
          clearImmediate(immediate);
          timer = undefined;
          immediate = undefined;
          await Promise.race([kick(), stalled]);
          if (!healthy) return;
        }
      }
    },
    close() {
      closed = true;
      clearTimeout(timer);
      clearImmediate(immediate);
      timer = undefined;
      immediate = undefined;
      sink.close?.().catch(() => {});
    },
  };
}
