import type { Adapter } from '../../adapters/types.js';
import type { AuditLog } from '../audit/types.js';
import type { Invalidation, InvalidationScope } from '../cache.js';
import type { LiveConnections } from '../connections.js';
import { type Task, taskRef } from '../domain.js';
import type { Logger } from '../log.js';
import type { RetireReason, RevocationReason } from '../metric-labels.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/types.js';
import { parseTask } from '../tasks/model.js';
import { type CloseReason, TaskClosing } from './closing.js';
import type { LeaseRecord } from './record.js';
import { RevocationQueue, type RevocationQueueOptions } from './revocation-queue.js';

export interface RevokerOptions {
  readonly store: Store;
  /** The task cache: dropped on notices, bypassed while they may be missed; read to check live connections again. */
  readonly tasks: Invalidation & { get(id: string): Promise<Task | null> };
  /** The lease cache, and the lease service's envelope opener (closing reads the leases it revokes). */
  readonly leases: Invalidation & {
    openEnvelope(envelope: string, taskId: string, target: string): LeaseRecord;
  };
  /** The live connections of this replica, cut when their task is closed anywhere. */
  readonly connections?: LiveConnections;
  readonly adapterFor: (target: string) => Adapter | undefined;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now?: () => number;
  readonly queue?: Omit<RevocationQueueOptions, 'onGiveUp'>;
  /**
   * A renewed lease's old credential is revoked upstream this long after the renewal, so that requests that
   * picked it up just before (on any replica) still reach the upstream with a working credential.
   */
  readonly renewedRevokeDelayMs?: number;
  /** Told of every revocation notice, this replica's own and other replicas', after the caches dropped it. */
  readonly onNotice?: (message: string) => void;
}

/**
 * Revocation: close tasks so that every replica refuses them (gateway/leases/closing.ts), drop cached copies and
 * cut live connections on the notices of other replicas (pub/sub), and revoke dynamic credentials at the upstream
 * through a bounded retrying queue. Children go with their parent.
 */
export class Revoker {
  readonly #o: RevokerOptions;
  readonly #now: () => number;
  readonly queue: RevocationQueue;
  readonly closing: TaskClosing;

  constructor(options: RevokerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.queue = new RevocationQueue({
      ...options.queue,
      onGiveUp: (job) => options.log.error({ job: job.describe }, 'upstream revocation failed after retries'),
    });
    this.closing = new TaskClosing({
      store: options.store,
      now: this.#now,
      log: options.log,
      openLease: (envelope, taskId, target) => options.leases.openEnvelope(envelope, taskId, target),
      revoke: (lease, reason, task) => this.#revoked(lease, reason, task),
      onClosed: (taskId) => this.#drop(`task:${taskId}`),
    });
  }

  /** Subscribe to revocation notices from other replicas; caches are untrusted while the subscription is down. */
  async listen(onState: (healthy: boolean) => void = () => {}): Promise<void> {
    // Not trusted until the subscription is confirmed: a notice sent before that would be missed.
    this.#setTrusted(false);
    await this.#o.store.revocations.subscribe(
      (message) => this.#drop(message),
      (healthy) => {
        this.#setTrusted(healthy);
        onState(healthy);
        if (healthy) this.#recheckConnections();
        if (healthy) this.#o.log.info('revocation subscription live: caches trusted');
        else this.#o.log.warn('revocation subscription down: lease and task caches bypassed');
      },
    );
  }

  /** After notices may have been missed: every live connection whose task is gone is cut. */
  #recheckConnections(): void {
    const connections = this.#o.connections;
    if (!connections) return;
    for (const taskId of connections.taskIds()) {
      this.#o.tasks.get(taskId).then(
        (task) => task === null && connections.cutTask(taskId, 'task_closed'),
        // The store is away: the task's close still reaches the connections through its notice or its expiry.
        () => {},
      );
    }
  }

  #setTrusted(trusted: boolean): void {
    this.#o.tasks.setTrusted(trusted);
    this.#o.leases.setTrusted(trusted);
  }

  /** Notices: `task:<id>` (closed or expired), `lease:<taskId>:<target>` (renewed), `*` (drop everything). */
  #drop(message: string): void {
    // The approvals' own notices (`approval:<id>`) concern no cache or connection here: only the listeners.
    if (!message.startsWith('approval:')) this.#invalidate(message);
    this.#o.onNotice?.(message);
  }

  #invalidate(message: string): void {
    const scope = scopeOf(message);
    this.#o.tasks.invalidate(scope);
    this.#o.leases.invalidate(scope);
    // Every live connection of this replica (streams, WebSockets, MCP, PostgreSQL sessions) is in `connections`.
    if (scope.kind === 'all') this.#o.connections?.cutAll('revoked');
    else if (scope.kind === 'task') this.#o.connections?.cutTask(scope.taskId, 'task_closed');
  }

  /**
   * Close a task now, its steps with it: refused on every replica, its leases taken and revoked upstream.
   * Returns how many leases it took. Rejects with 503 `close_pending` when the store did not confirm every step:
   * the close then goes on in the background (and from the outbox on any replica) and a retry finishes it.
   */
  revokeTask(taskId: string, reason: CloseReason, knownHash?: string): Promise<number> {
    return this.closing.close(taskId, reason, knownHash);
  }

  /**
   * A credential the lease service withdrew (the old one of a renewal, or one issued for a task closed
   * meanwhile): other replicas drop their cached copy, then it is audited and revoked at the upstream.
   */
  retire(lease: LeaseRecord, reason: RetireReason, task?: Task): void {
    this.#o.store.revocations
      .publish(`lease:${lease.taskId}:${lease.target}`)
      .catch((error: Error) => this.#o.log.warn({ err: error.message }, 'cannot publish a lease notice'));
    void this.#revoked(lease, reason, task);
  }

  /** Audit and count one revocation, and queue it upstream. Resolves true once revoked (or nothing to revoke). */
  #revoked(lease: LeaseRecord, reason: RevocationReason, task: Task | undefined): Promise<boolean> {
    this.#o.metrics.leasesRevoked.inc({ reason });
    this.#o.audit.record({
      event: 'lease.revoked',
      reason,
      leaseId: lease.id,
      target: lease.target,
      secretFingerprint: lease.fingerprint,
      ...(task ? { principal: task.principal } : {}),
      // A lease whose task record is gone is named by its task id alone.
      task: taskRef(task ?? { id: lease.taskId, ancestors: [] }),
    });
    const adapter = this.#o.adapterFor(lease.target);
    if (!adapter?.revoke) return Promise.resolve(true);
    const revoke = adapter.revoke.bind(adapter);
    const delayMs = reason === 'renewed' ? (this.#o.renewedRevokeDelayMs ?? 2_000) : 0;
    return new Promise<boolean>((resolve) => {
      const accepted = this.queue.push(
        { describe: `${lease.target}/${lease.id}`, run: () => revoke(lease.credential.reveal()), settled: resolve },
        delayMs,
      );
      if (!accepted) {
        this.#o.log.error({ leaseId: lease.id }, 'revocation queue full: not revoked upstream yet, retried later');
        resolve(false);
      }
    });
  }

  /**
   * Revoke the leases of tasks that expired (the store keeps their records a while; the leases wait out a grace
   * period). While the upstream revocation queue is half full the sweep waits: expired tasks stay in the index and
   * the next sweep takes them, so a mass expiry drains at the upstream's pace instead of overflowing the queue.
   */
  async sweepExpired(limit = 500): Promise<number> {
    if (this.queue.pending >= this.queue.capacity / 2) return 0;
    const expired = await this.#o.store.index.range(Number.NEGATIVE_INFINITY, this.#now(), limit);
    let count = 0;
    for (const { taskId, principalHash: hash } of expired) count += await this.revokeTask(taskId, 'task_expired', hash);
    return count;
  }

  /** Admin kill switch: every task and ambient lease matching `match` (by principal id, by target, or all). */
  async revokeWhere(match: (task: Task) => boolean): Promise<{ tasks: number; leases: number }> {
    const all = await this.#o.store.index.range(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 1_000_000);
    let tasks = 0;
    let leases = 0;
    for (const { taskId, principalHash: hash } of all) {
      const text = await this.#o.store.tasks.get(taskId);
      if (text !== null && !match(parseTask(text))) continue;
      tasks++;
      leases += await this.revokeTask(taskId, 'admin', hash);
    }
    return { tasks, leases };
  }
}

/** A notice: `*`, `lease:<taskId>:<target>`, or `task:<taskId>` (a bare task id from older replicas). */
function scopeOf(message: string): InvalidationScope {
  if (message === '*') return { kind: 'all' };
  if (message.startsWith('lease:')) return { kind: 'lease', key: message.slice(6) };
  return { kind: 'task', taskId: message.startsWith('task:') ? message.slice(5) : message };
}
