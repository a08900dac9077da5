import { EscrowError } from '../errors.js';
import type { Written } from './queue.js';
import type { AuditFailMode } from './types.js';

/**
 * The acknowledgement of one group of events (those recorded in one turn of the event loop): one promise for all
 * of them, settled once every sink has written the group, or when a sink fails, or at the deadline. Under
 * `failMode: closed` a failure or the deadline rejects (the answers waiting for it are not given); under `open`
 * the promise always resolves, the events stay queued, and the answers go out.
 */
export class GroupCommit {
  readonly promise: Promise<void>;
  readonly #failMode: AuditFailMode;
  #resolve: () => void = () => {};
  #reject: (error: Error) => void = () => {};
  #left = 0;
  #timer: NodeJS.Timeout | undefined;
  #settled = false;

  constructor(failMode: AuditFailMode) {
    this.#failMode = failMode;
    this.promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Every caller awaits the promise; this keeps a rejection nobody waits for any more from crashing the process.
    this.promise.catch(() => {});
  }

  /** The group was handed to `sinks` queues; wait at most `timeoutMs` for all of them. */
  start(sinks: number, timeoutMs: number): void {
    this.#left = sinks;
    if (sinks === 0) {
      this.#finish();
      return;
    }
    this.#timer = setTimeout(
      () => this.#finish(new Error(`an audit sink has not written within ${timeoutMs} ms`)),
      timeoutMs,
    );
  }

  /** One sink's acknowledgement (or its failure). */
  readonly written: Written = (error) => {
    if (error) this.#finish(error);
    else if (--this.#left === 0) this.#finish();
  };

  #finish(error?: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    if (!error || this.#failMode === 'open') this.#resolve();
    else this.#reject(new EscrowError('audit_unavailable', 'the audit trail could not record this', { cause: error }));
  }
}
