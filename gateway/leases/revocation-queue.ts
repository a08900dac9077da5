/**
 * Upstream revocations (deleting a dynamic credential at the upstream) go through a bounded queue with a
 * small worker pool and exponential backoff, so a mass expiry cannot storm the upstream or stall requests
 * (Vault's revocation storms are the cautionary tale).
 */
export interface RevocationJob {
  readonly describe: string;
  run(): Promise<void>;
  /** Called once: true when the job succeeded, false when it was given up (or dropped at shutdown). */
  settled?(revoked: boolean): void;
}

export interface RevocationQueueOptions {
  readonly concurrency?: number;
  readonly maxQueued?: number;
  readonly attempts?: number;
  readonly baseDelayMs?: number;
  readonly onGiveUp?: (job: RevocationJob, error: unknown) => void;
}

export class RevocationQueue {
  readonly #jobs: { job: RevocationJob; attempt: number }[] = [];
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #attempts: number;
  readonly #baseDelayMs: number;
  readonly #onGiveUp: (job: RevocationJob, error: unknown) => void;
  #running = 0;
  #idle: (() => void)[] = [];
  #timers = new Set<NodeJS.Timeout>();

  constructor(options: RevocationQueueOptions = {}) {
    this.#concurrency = options.concurrency ?? 4;
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#attempts = options.attempts ?? 5;
    this.#baseDelayMs = options.baseDelayMs ?? 500;
    this.#onGiveUp = options.onGiveUp ?? (() => {});
  }

  /**
   * Queue `job`, to start no earlier than `delayMs` from now. False when the queue is full: the caller logs it
   * (the credential then lives until its own expiry).
   */
  push(job: RevocationJob, delayMs = 0): boolean {
    if (this.pending >= this.#maxQueued) return false;
    if (delayMs > 0) this.#later({ job, attempt: 1 }, delayMs);
    else {
      this.#jobs.push({ job, attempt: 1 });
      this.#pump();
    }
    return true;
  }

  /** How many jobs may wait; the sweeper holds back while half of that is in use. */
  get capacity(): number {
    return this.#maxQueued;
  }

  get pending(): number {
    return this.#jobs.length + this.#running + this.#timers.size;
  }

  /** Resolves once nothing is queued, running or waiting to retry. */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  close(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const { job } of this.#jobs.splice(0)) job.settled?.(false);
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#jobs.length > 0) {
      const next = this.#jobs.shift()!;
      this.#running++;
      next.job
        .run()
        .then(
          () => next.job.settled?.(true),
          (error: unknown) => this.#retry(next, error),
        )
        .finally(() => {
          this.#running--;
          this.#pump();
          if (this.pending === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
    }
  }

  #retry(entry: { job: RevocationJob; attempt: number }, error: unknown): void {
    if (entry.attempt >= this.#attempts) {
      this.#onGiveUp(entry.job, error);
      entry.job.settled?.(false);
      return;
    }
    // Jitter spreads the retries of a mass failure instead of sending them back in one wave.
    const delay = this.#baseDelayMs * 2 ** (entry.attempt - 1) * (0.8 + Math.random() * 0.4);
    this.#later({ job: entry.job, attempt: entry.attempt + 1 }, delay);
  }

  #later(entry: { job: RevocationJob; attempt: number }, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#jobs.push(entry);
      this.#pump();
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }
}
