import { requireAudit } from '../audit/fail-mode.js';
import type { AuditLog } from '../audit/types.js';
import { type CacheListener, ExpiringCache, type Invalidation, type InvalidationScope } from '../cache.js';
import { principalRef, type Task, taskRef } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RetireReason } from '../metric-labels.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/types.js';
import { isAmbient } from '../tasks/ambient.js';
import { principalHash, serializeTask } from '../tasks/model.js';
import type { LeaseCipher } from './crypto.js';
import { issueLease, type LeaseRequest, renewWindowMs } from './issue.js';
import { underLock } from './lock.js';
import { type LeaseRecord, leaseAad, leaseJson, parseLease } from './record.js';

export type { LeaseRequest } from './issue.js';

/** How long a lease's store entry outlives its task, so the sweeper can still revoke what it held. */
export const LEASE_GRACE_MS = 5 * 60_000;
const LOCK_TTL_MS = 15_000;
const WAIT_STEP_MS = 20;

export interface LeaseServiceOptions {
  readonly store: Store;
  readonly cipher: LeaseCipher;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  readonly now?: () => number;
  readonly cacheSize?: number;
  readonly log?: Logger;
  /** Told of every lease that enters or leaves the cache (the scrubber keeps their credentials as needles). */
  readonly cacheListener?: CacheListener<LeaseRecord>;
  /** Revoke a credential this service withdrew (renewed, or issued for a task closed meanwhile). */
  readonly onRetired?: (lease: LeaseRecord, reason: RetireReason, task: Task) => void;
}

/** What the store holds for one (task, target): a lease, nothing, or an envelope no current key opens. */
type Stored = LeaseRecord | 'unreadable' | null;

/**
 * Get-or-issue the lease for (task, target). One credential per lease across replicas: concurrent requests in
 * one process share one attempt; across processes the issuer holds a Redis lock (`SET NX PX`) and the others
 * wait for the lease to appear. A lease near its end under a live task is renewed transparently and the old
 * credential revoked. A lease is written only while its task has no tombstone (one atomic step in the store):
 * a credential issued while its task was being closed is revoked, never handed out.
 */
export class LeaseService implements Invalidation {
  readonly #o: LeaseServiceOptions;
  readonly #now: () => number;
  readonly #inflight = new Map<string, Promise<LeaseRecord>>();
  readonly cache: ExpiringCache<LeaseRecord>;

  constructor(options: LeaseServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.cache = new ExpiringCache<LeaseRecord>(options.cacheSize ?? 10_000, this.#now, options.cacheListener);
  }

  invalidate(scope: InvalidationScope): void {
    if (scope.kind === 'all') this.cache.clear();
    else if (scope.kind === 'task') this.cache.deletePrefix(`${scope.taskId}:`);
    else this.cache.delete(scope.key);
  }

  setTrusted(trusted: boolean): void {
    this.cache.setTrusted(trusted);
  }

  /**
   * The lease for (task, target) at once when the cache holds one that needs no renewal (a map lookup, no promise);
   * undefined when `acquire` has work to do.
   */
  cached(task: Task, target: string): LeaseRecord | undefined {
    const cached = this.cache.get(`${task.id}:${target}`);
    return cached && !this.#needsRenewal(cached, task) ? cached : undefined;
  }

  async acquire(req: LeaseRequest): Promise<LeaseRecord> {
    const key = `${req.task.id}:${req.target}`;
    const cached = this.cache.get(key);
    if (cached && !this.#needsRenewal(cached, req.task)) return cached;
    const running = this.#inflight.get(key);
    if (running) return running;
    const attempt = this.#acquireShared(req, key).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, attempt);
    return attempt;
  }

  async #acquireShared(req: LeaseRequest, key: string): Promise<LeaseRecord> {
    const generation = this.cache.generation;
    const lockName = leaseAad(req.task.id, req.target);
    const deadline = this.#now() + LOCK_TTL_MS;
    for (;;) {
      const stored = await this.#read(req.task.id, req.target);
      if (this.#usable(stored, req.task)) return this.#remember(key, stored, generation);
      const issued = await underLock(this.#o.store.locks, lockName, LOCK_TTL_MS, () => this.#issueLocked(req));
      if (issued) return this.#remember(key, issued, generation);
      if (this.#now() > deadline) throw new EscrowError('credential_unavailable', 'timed out waiting for the lease');
      await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
    }
  }

  #usable(stored: Stored, task: Task): stored is LeaseRecord {
    return stored !== null && stored !== 'unreadable' && !this.#needsRenewal(stored, task);
  }

  #needsRenewal(lease: LeaseRecord, task: Task): boolean {
    const now = this.#now();
    if (lease.expiresAt <= now) return true;
    return lease.expiresAt - now < renewWindowMs(lease) && task.expiresAt - lease.expiresAt > 1_000;
  }

  #remember(key: string, lease: LeaseRecord, generation: number): LeaseRecord {
    this.cache.set(key, lease, lease.expiresAt - renewWindowMs(lease), generation);
    return lease;
  }

  async #read(taskId: string, target: string): Promise<Stored> {
    const envelope = await this.#o.store.leases.get(taskId, target);
    if (envelope === null) return null;
    try {
      return this.openEnvelope(envelope, taskId, target);
    } catch (error) {
      // A key removed from leaseEncryptionPrevious too early, or a tampered value: replace it, never serve it.
      this.#o.log?.error({ taskId, target, err: (error as Error).message }, 'stored lease cannot be opened');
      return 'unreadable';
    }
  }

  async #issueLocked(req: LeaseRequest): Promise<LeaseRecord> {
    // Re-read under the lock: another replica may have issued between our read and our lock.
    const current = await this.#read(req.task.id, req.target);
    if (this.#usable(current, req.task)) return current;
    requireAudit(this.#o.audit, 'no new credentials are issued');
    const fence = isAmbient(req.task.id) ? await this.#enterAmbient(req.task) : '';
    const now = this.#now();
    const lease = await issueLease(req, now, (secret) => this.#o.audit.fingerprint(secret));
    const old = current === 'unreadable' ? null : current;
    await this.#recordDurably(req, lease, old);
    const envelope = this.#o.cipher.seal(leaseJson(lease), leaseAad(req.task.id, req.target));
    const storeTtl = req.task.expiresAt - now + LEASE_GRACE_MS;
    const leases = this.#o.store.leases;
    const written =
      current !== null
        ? await leases.replace(req.task.id, req.target, envelope, storeTtl, fence)
        : await leases.putIfAbsent(req.task.id, req.target, envelope, storeTtl, fence);
    if (written === 'exists') {
      // Only when issuing outlasted the lock and another replica wrote first: this credential is never used.
      this.#o.onRetired?.(lease, 'superseded', req.task);
      throw new EscrowError('credential_unavailable', 'lease written concurrently');
    }
    if (written === 'closed') {
      // The task was closed (its tombstone written) while this credential was being issued: never used.
      this.#o.onRetired?.(lease, 'task_closed', req.task);
      throw new EscrowError('task_closed', 'the task was closed while its lease was being issued');
    }
    if (old) this.#o.onRetired?.(old, 'renewed', req.task);
    return lease;
  }

  /**
   * An ambient lease's task is stored and indexed like any task (kill switch, sweeper, listings see it). Its
   * tombstone is a fence: a close overwrites it, so a credential issued across a close is refused when written.
   */
  async #enterAmbient(task: Task): Promise<string> {
    const { store } = this.#o;
    const hash = principalHash(task.principal);
    await store.tasks.put(task.id, serializeTask(task), task.expiresAt - this.#now() + LEASE_GRACE_MS);
    await store.index.add(task.id, hash, task.expiresAt);
    return (await store.tasks.read(task.id))?.tombstone ?? '';
  }

  /**
   * Vault's rule: a credential nobody can trace is never handed out. The issuance event is written to every
   * audit sink (group commit) before the lease is stored; if a sink fails meanwhile (failMode closed), the fresh
   * credential is retired and the request refused.
   */
  async #recordDurably(req: LeaseRequest, lease: LeaseRecord, old: LeaseRecord | null): Promise<void> {
    this.#o.metrics.leasesIssued.inc({ target: req.target, adapter: req.adapter.kind });
    try {
      await this.#o.audit.commit(this.#event(req, lease, old));
    } catch (error) {
      this.#o.onRetired?.(lease, 'superseded', req.task);
      throw new EscrowError('audit_unavailable', 'the audit sink is unavailable: no new credentials are issued', {
        cause: error,
      });
    }
  }

  #event(req: LeaseRequest, lease: LeaseRecord, old: LeaseRecord | null) {
    return {
      event: old ? ('lease.renewed' as const) : ('lease.issued' as const),
      requestId: req.requestId,
      decisionId: req.decisionId,
      principal: principalRef(req.principal),
      task: { ...taskRef(req.task), intent: req.task.intent },
      target: req.target,
      leaseId: lease.id,
      secretFingerprint: lease.fingerprint,
      adapter: req.adapter.kind,
      expiresAt: new Date(lease.expiresAt).toISOString(),
      ...(old ? { previousLeaseId: old.id } : {}),
    };
  }

  /** Every readable lease still stored for a task (for the task API's view). */
  async list(taskId: string, targets: readonly string[]): Promise<LeaseRecord[]> {
    const out: LeaseRecord[] = [];
    for (const target of targets) {
      const lease = await this.#read(taskId, target);
      if (lease !== null && lease !== 'unreadable') out.push(lease);
    }
    return out;
  }

  /** Open an envelope returned by the store (revocation path). Throws when no configured key opens it. */
  openEnvelope(envelope: string, taskId: string, target: string): LeaseRecord {
    return parseLease(this.#o.cipher.open(envelope, leaseAad(taskId, target)));
  }
}
