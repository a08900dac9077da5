import type { AuditSink } from './sinks.js';

export interface SinkQueueOptions {
  /** Lines held per sink while it is failing; beyond this the oldest are dropped and counted. */
  readonly maxQueue: number;
  readonly batchSize: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** A write that has not settled by then counts as failed (a hung Redis must not look healthy). */
  readonly writeTimeoutMs: number;
  readonly onError: (sink: string) => void;
  readonly onDrop: (sink: string, count: number) => void;
}

/** The lines bound for one sink, written in batches off the request path, retried with backoff. */
export interface SinkQueue {
  readonly name: string;
  readonly healthy: boolean;
  readonly pending: number;
  readonly dropped: number;
  push(line: string): void;
  /** Writes what is queued now; resolves after success, or after one failed attempt. */
  flush(): Promise<void>;
  close(): void;
}

function withTimeout(write: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error('audit sink write timed out')), ms);
  });
  return Promise.race([write, timeout]).finally(() => clearTimeout(timer));
}

export function createSinkQueue(sink: AuditSink, options: SinkQueueOptions): SinkQueue {
  const queue: string[] = [];
  let healthy = true;
  let dropped = 0;
  let delay = options.retryInitialMs;
  let current: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let closed = false;

  const dropOldest = (): void => {
    const excess = queue.length - options.maxQueue;
    if (excess <= 0) return;
    queue.splice(0, excess);
    dropped += excess;
    options.onDrop(sink.name, excess);
  };

  const failed = (batch: string[]): void => {
    healthy = false;
    options.onError(sink.name);
    queue.unshift(...batch);
    dropOldest();
    if (!closed) timer = setTimeout(retry, delay).unref();
    delay = Math.min(delay * 2, options.retryMaxMs);
  };

  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue.splice(0, options.batchSize);
      try {
        await withTimeout(sink.write(batch), options.writeTimeoutMs);
      } catch {
        failed(batch);
        return;
      }
      healthy = true;
      delay = options.retryInitialMs;
    }
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
    push(line) {
      queue.push(line);
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
          await current;
          if (!healthy) return;
        } else if (queue.length === 0) {
          return;
        } else {
          clearTimeout(timer);
          clearImmediate(immediate);
          timer = undefined;
          immediate = undefined;
          await kick();
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
    },
  };
}
