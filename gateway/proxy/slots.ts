import { EscrowError } from '../errors.js';

export interface SlotOptions {
  /** Requests forwarded at once (the pool's connections: undici never has to queue one). */
  readonly max: number;
  /** Requests that may wait for a slot; one more is refused at once. */
  readonly maxQueued: number;
  /** How long a request may wait for a slot before it is refused. */
  readonly timeoutMs: number;
}

interface Waiter {
  readonly grant: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The per-target cap on requests in flight toward the upstream, with a bounded, timed wait in front of it.
 * undici's Pool queues without bound and starts its timeouts only once a request is dispatched, so a pool busy
 * with slow streams would make later requests wait forever: here a request that gets no slot within
 * `timeoutMs`, or finds `maxQueued` already waiting, is refused with 503 `upstream_busy` (Envoy's
 * max_pending_requests and HAProxy's `timeout queue` do the same).
 */
export class UpstreamSlots {
  readonly #o: SlotOptions;
  readonly #waiting: Waiter[] = [];
  #inFlight = 0;

  constructor(options: SlotOptions) {
    this.#o = options;
  }

  /**
   * Wait for a slot; resolves with its release function (call it exactly once, when the request is done).
   * `onGone` registers a callback for the agent going away while waiting (the wait is then abandoned).
   */
  acquire(onGone?: (listener: () => void) => void): Promise<() => void> {
    const free = this.tryAcquire();
    if (free) return Promise.resolve(free);
    if (this.#waiting.length >= this.#o.maxQueued) {
      return Promise.reject(busy(`${this.#o.maxQueued} requests are already waiting for this upstream`, 'queue_full'));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => resolve(this.#take()),
        timer: setTimeout(() => {
          this.#forget(waiter);
          reject(busy(`no upstream connection within ${this.#o.timeoutMs} ms`, 'queue_timeout'));
        }, this.#o.timeoutMs),
      };
      this.#waiting.push(waiter);
      onGone?.(() => {
        if (!this.#forget(waiter)) return;
        reject(new EscrowError('bad_request', 'the client went away'));
      });
    });
  }

  /** A slot now, when one is free and nobody waits for one (the release function); undefined otherwise. */
  tryAcquire(): (() => void) | undefined {
    return this.#inFlight < this.#o.max && this.#waiting.length === 0 ? this.#take() : undefined;
  }

  /** Requests forwarded right now, and waiting. */
  get stats(): { inFlight: number; waiting: number } {
    return { inFlight: this.#inFlight, waiting: this.#waiting.length };
  }

  #take(): () => void {
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      const next = this.#waiting.shift();
      if (next) {
        clearTimeout(next.timer);
        next.grant();
      }
    };
  }

  #forget(waiter: Waiter): boolean {
    const at = this.#waiting.indexOf(waiter);
    if (at === -1) return false;
    this.#waiting.splice(at, 1);
    clearTimeout(waiter.timer);
    return true;
  }
}

function busy(message: string, reason: string): EscrowError {
  return new EscrowError('upstream_busy', message, { reason });
}
