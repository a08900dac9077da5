import { randomBytes } from 'node:crypto';
import type { Task } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';
import { isAmbient } from '../tasks/ambient.js';
import { parseTask, principalHash } from '../tasks/model.js';
import {
  CLAIM_STALE_MS,
  type CloseJob,
  type CloseReason,
  fromMember,
  newJob,
  OUTBOX_DUE_MS,
  RETAIN_MS,
  settleJob,
} from './close-job.js';
import type { LeaseRecord } from './record.js';
import { RetryRounds } from './retry-rounds.js';

export { type CloseReason, RETAIN_MS } from './close-job.js';

/** Retries of a close that failed in this process: every 50 ms, one close at a time, first failure ends a round. */
const RETRY_MS = 50;
const MAX_JOBS = 10_000;

export interface TaskClosingOptions {
  readonly store: Store;
  readonly now: () => number;
  readonly log: Logger;
  readonly openLease: (envelope: string, taskId: string, target: string) => LeaseRecord;
  /** Audit and count one revoked lease and revoke it upstream; resolves true once revoked (or nothing to do). */
  readonly revoke: (lease: LeaseRecord, reason: CloseReason, task: Task | undefined) => Promise<boolean>;
  /** The task is refused here from now on: drop its cached copies and cut its live connections. */
  readonly onClosed: (taskId: string) => void;
}

/**
 * Closing a task so that it converges whatever fails (gateway/leases/close-job.ts holds one close's state).
 * One attempt, in this order: (1) note the close in the durable outbox, (2) write the tombstone and publish the
 * notice in one atomic step, so that every replica refuses the task from then on (a cache miss reads the
 * tombstone; a cached copy is dropped and live connections cut on the notice), (3) close the steps, (4) take the
 * leases out of service under this job's claim, (5) drop the index entries. Every step is idempotent. If one
 * fails (or times out, and may still run), the caller gets 503 and this process retries the whole attempt every
 * 50 ms until it goes through; if this process dies, any replica finishes it from the outbox. After that, the
 * leases are revoked upstream, then forgotten, and the outbox entry removed.
 */
export class TaskClosing {
  readonly #o: TaskClosingOptions;
  readonly #jobs = new Map<string, CloseJob>();
  readonly #retries = new RetryRounds(RETRY_MS, MAX_JOBS);
  #stopped = false;

  constructor(options: TaskClosingOptions) {
    this.#o = options;
  }

  /** Close `taskId` now; resolves with the number of leases this close took, rejects 503 if not confirmed. */
  async close(taskId: string, reason: CloseReason, hash?: string): Promise<number> {
    let job = this.#jobs.get(taskId);
    if (!job) {
      job = newJob(taskId, reason, hash);
      if (this.#jobs.size < MAX_JOBS) this.#jobs.set(taskId, job);
      else this.#o.log.error({ taskId }, 'too many closes pending in this process: left to the outbox');
    }
    try {
      return await this.#attempt(job);
    } catch (cause) {
      throw new EscrowError('store_unavailable', 'the close is not confirmed yet; Escrow keeps retrying it', {
        cause,
        reason: 'close_pending',
      });
    }
  }

  /** Closes started in this process and not finished (store phase or upstream revocations). */
  get pending(): number {
    return this.#jobs.size + this.#retries.size;
  }

  /**
   * A close was asked for but the store could not even be read: retry `attempt` (which reads the task, checks who
   * asked, and closes it) with the other retries until it goes through. An attempted close is never forgotten.
   */
  defer(taskId: string, attempt: () => Promise<void>): void {
    if (!this.#retries.add(`ask:${taskId}`, attempt)) this.#o.log.error({ taskId }, 'too many closes pending');
  }

  /** Finish the closes other replicas started and did not finish in time (run periodically on every replica). */
  async sweepOutbox(limit = 100): Promise<number> {
    const due = await this.#o.store.closing.due(this.#o.now(), limit);
    let finished = 0;
    for (const member of due) {
      const job = fromMember(member);
      if (!job || this.#jobs.has(job.taskId)) continue;
      this.#jobs.set(job.taskId, job);
      await this.#attempt(job);
      finished++;
    }
    return finished;
  }

  stop(): void {
    this.#stopped = true;
    this.#retries.stop();
  }

  /** One attempt at the store phase, serialized per job; a failure schedules a retry. */
  #attempt(job: CloseJob): Promise<number> {
    if (job.taken !== undefined) return Promise.resolve(job.taken);
    if (!job.running) {
      job.running = this.#storePhase(job)
        .then((taken) => {
          job.taken = taken;
          void this.#finish(job);
          return taken;
        })
        .catch((error: unknown) => {
          if (this.#jobs.get(job.taskId) === job) this.#retries.add(job.taskId, () => this.#attempt(job));
          throw error;
        })
        .finally(() => {
          job.running = undefined;
        });
    }
    return job.running;
  }

  async #storePhase(job: CloseJob): Promise<number> {
    if (!job.outboxed) {
      await this.#o.store.closing.schedule(job.member, this.#o.now() + OUTBOX_DUE_MS);
      job.outboxed = true;
    }
    return this.#closeOne(job, job.taskId, job.reason, job.hash);
  }

  async #closeOne(job: CloseJob, taskId: string, reason: CloseReason, knownHash?: string): Promise<number> {
    const { store, now } = this.#o;
    const at = now();
    const ambient = isAmbient(taskId);
    const tombstone = `${at}:${reason}:${randomBytes(6).toString('base64url')}`;
    // The tombstone and the notice to every replica are one atomic step in the store.
    const closed = await store.tasks.close(taskId, tombstone, RETAIN_MS, ambient);
    const task = closed ? parseTask(closed.entry.record) : undefined;
    this.#o.onClosed(taskId);
    let taken = 0;
    for (const child of closed?.children ?? []) taken += await this.#closeOne(job, child, 'parent_closed');
    const why: CloseReason = reason === 'parent_closed' && task && task.expiresAt <= at ? 'task_expired' : reason;
    const leases = await store.leases.take(taskId, {
      claim: job.claim,
      nowMs: at,
      staleAfterMs: CLAIM_STALE_MS,
      retainMs: RETAIN_MS,
    });
    for (const { ref, target, value } of leases) this.#revokeOnce(job, taskId, ref, target, value, why, task);
    const hash = knownHash ?? (task ? principalHash(task.principal) : undefined);
    if (hash !== undefined) await store.index.remove(taskId, hash);
    return taken + leases.length;
  }

  /** Audit and revoke upstream each taken lease once per job, however many attempts return it. */
  #revokeOnce(
    job: CloseJob,
    taskId: string,
    ref: string,
    target: string,
    value: string,
    why: CloseReason,
    task?: Task,
  ) {
    const key = `${taskId} ${ref}`;
    if (job.revocations.has(key)) return;
    let lease: LeaseRecord;
    try {
      lease = this.#o.openLease(value, taskId, target);
    } catch (error) {
      // No key opens it: nothing can be revoked upstream. Forget it with the others.
      this.#o.log.error({ taskId, target, err: (error as Error).message }, 'cannot open a lease being revoked');
      job.revocations.set(key, Promise.resolve({ taskId, ref, revoked: true }));
      return;
    }
    job.revocations.set(
      key,
      this.#o.revoke(lease, why, task).then((revoked) => ({ taskId, ref, revoked })),
    );
  }

  /** After the store phase: the upstream revocations, then forgetting the leases and the outbox entry. */
  async #finish(job: CloseJob): Promise<void> {
    await settleJob(job, this.#o.store, this.#o.now, () => this.#stopped);
    this.#jobs.delete(job.taskId);
  }
}
