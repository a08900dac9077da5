import type { Adapter } from '../../adapters/types.js';
import type { AuditLog } from '../audit/types.js';
import type { Task } from '../domain.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/types.js';
import { parseTask, principalHash } from '../tasks/model.js';
import type { TaskService } from '../tasks/service.js';
import type { LeaseRecord } from './record.js';
import { RevocationQueue, type RevocationQueueOptions } from './revocation-queue.js';
import { type LeaseService, RETIRE_REASONS, type RetireReason } from './service.js';

export const REVOCATION_REASONS = [...RETIRE_REASONS, 'parent_closed', 'admin'] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export interface RevokerOptions {
  readonly store: Store;
  readonly tasks: TaskService;
  readonly leases: LeaseService;
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
  /** Told of every notice, this replica's own and other replicas' (the approvals listen: gateway/approvals/). */
  readonly onNotice?: (message: string) => void;
}

/**
 * Revocation: delete a task's leases from the store, tell every replica (pub/sub) to drop its cached copies,
 * and revoke dynamic credentials at the upstream through a bounded retrying queue. Children go with their parent.
 */
export class Revoker {
  readonly #o: RevokerOptions;
  readonly #now: () => number;
  readonly queue: RevocationQueue;

  constructor(options: RevokerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.queue = new RevocationQueue({
      ...options.queue,
      onGiveUp: (job) => options.log.error({ job: job.describe }, 'upstream revocation failed after retries'),
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
        if (healthy) this.#o.log.info('revocation subscription live: caches trusted');
        else this.#o.log.warn('revocation subscription down: lease and task caches bypassed');
      },
    );
  }

  #setTrusted(trusted: boolean): void {
    this.#o.tasks.cache.setTrusted(trusted);
    this.#o.leases.cache.setTrusted(trusted);
  }

  /** Notices: `task:<id>` (closed or expired), `lease:<taskId>:<target>` (renewed), `*` (drop everything). */
  #drop(message: string): void {
    this.#o.onNotice?.(message);
    if (message.startsWith('approval:')) return; // the approvals' own notices: no cache holds approvals here
    if (message === '*') {
      this.#o.tasks.cache.clear();
      this.#o.leases.cache.clear();
    } else if (message.startsWith('lease:')) {
      this.#o.leases.cache.delete(message.slice(6));
    } else {
      const taskId = message.startsWith('task:') ? message.slice(5) : message;
      this.#o.tasks.cache.delete(taskId);
      this.#o.leases.cache.deletePrefix(`${taskId}:`);
    }
  }

  /** Close a task now: its record, its leases, its children's. Returns how many leases were revoked. */
  async revokeTask(taskId: string, reason: RevocationReason, knownHash?: string): Promise<number> {
    const text = await this.#o.store.tasks.get(taskId);
    const task = text === null ? undefined : parseTask(text);
    const children = await this.#o.store.tasks.delete(taskId);
    // Drop locally and tell the other replicas before anything slow (upstream calls) happens, and close the
    // steps right after, so that a step stops about as soon as its parent.
    this.#drop(`task:${taskId}`);
    await this.#o.store.revocations.publish(`task:${taskId}`);
    let count = 0;
    for (const child of children) count += await this.revokeTask(child, 'parent_closed');
    const deleted = await this.#o.store.leases.deleteForTask(taskId);
    const hash = knownHash ?? (task ? principalHash(task.principal) : undefined);
    if (hash !== undefined) await this.#o.store.index.remove(taskId, hash);
    for (const { target, value } of deleted) {
      try {
        this.#revoked(this.#o.leases.openEnvelope(value, taskId, target), reason, task);
      } catch (error) {
        this.#o.log.error({ taskId, target, err: (error as Error).message }, 'cannot open a lease being revoked');
      }
    }
    return count + deleted.length;
  }

  /**
   * A credential the lease service withdrew (the old one of a renewal, or one issued for a task closed
   * meanwhile): other replicas drop their cached copy, then it is audited and revoked at the upstream.
   */
  retire(lease: LeaseRecord, reason: RetireReason, task?: Task): void {
    this.#o.store.revocations
      .publish(`lease:${lease.taskId}:${lease.target}`)
      .catch((error: Error) => this.#o.log.warn({ err: error.message }, 'cannot publish a lease notice'));
    this.#revoked(lease, reason, task);
  }

  #revoked(lease: LeaseRecord, reason: RevocationReason, task: Task | undefined): void {
    this.#o.metrics.leasesRevoked.inc({ reason });
    this.#o.audit.record({
      event: 'lease.revoked',
      reason,
      leaseId: lease.id,
      target: lease.target,
      secretFingerprint: lease.fingerprint,
      ...(task ? { principal: task.principal, task: { id: task.id, chain: [...task.ancestors, task.id] } } : {}),
      ...(task ? {} : { task: { id: lease.taskId, chain: [lease.taskId] } }),
    });
    const adapter = this.#o.adapterFor(lease.target);
    if (adapter?.revoke) {
      const revoke = adapter.revoke.bind(adapter);
      const delayMs = reason === 'renewed' ? (this.#o.renewedRevokeDelayMs ?? 2_000) : 0;
      const accepted = this.queue.push(
        { describe: `${lease.target}/${lease.id}`, run: () => revoke(lease.credential) },
        delayMs,
      );
      if (!accepted) {
        this.#o.log.error({ leaseId: lease.id }, 'revocation queue full: not revoked upstream, lives until it expires');
      }
    }
  }

  /**
   * Revoke the leases of tasks that expired (the store dropped the task; the leases wait out a grace period).
   * While the upstream revocation queue is half full the sweep waits: expired tasks stay in the index and the
   * next sweep takes them, so a mass expiry drains at the upstream's pace instead of overflowing the queue.
   */
  async sweepExpired(limit = 500): Promise<number> {
    if (this.queue.pending >= this.queue.capacity / 2) return 0;
    const expired = await this.#o.store.index.range(Number.NEGATIVE_INFINITY, this.#now(), limit);
    let count = 0;
    for (const { taskId, principalHash: hash } of expired) count += await this.revokeTask(taskId, 'task_expired', hash);
    return count;
  }

  /** Admin kill switch: every live task matching `match` (by principal id, by target, or all). */
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
