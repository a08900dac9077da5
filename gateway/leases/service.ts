import { randomBytes } from 'node:crypto';
import type { Adapter } from '../../adapters/types.js';
import type { AuditLog } from '../audit/types.js';
import { ExpiringCache } from '../cache.js';
import { type Principal, principalRef, type Task } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/types.js';
import type { LeaseCipher } from './crypto.js';
import { type LeaseRecord, leaseAad, primarySecret } from './record.js';

/** How long a lease's store entry outlives its task, so the sweeper can still revoke what it held. */
export const LEASE_GRACE_MS = 5 * 60_000;
const LOCK_TTL_MS = 15_000;
const WAIT_STEP_MS = 20;

export interface LeaseServiceOptions {
  readonly store: Store;
  readonly cipher: LeaseCipher;
  readonly audit: AuditLog;
  readonly auditFailMode: 'closed' | 'open';
  readonly metrics: Metrics;
  readonly now?: () => number;
  readonly cacheSize?: number;
  /** Revoke a replaced credential at the upstream (renewal); set by the revoker. */
  readonly onReplaced?: (old: LeaseRecord, adapter: Adapter) => void;
}

export interface LeaseRequest {
  readonly task: Task;
  readonly target: string;
  readonly adapter: Adapter;
  /** Cap from config (the credential's `ttl`), seconds. */
  readonly ttlSeconds: number;
  readonly principal: Principal;
  readonly decisionId: string;
  readonly requestId: string;
}

/** Renew when less than this much of the lease is left (20% of its life, between 5 s and 60 s). */
function renewWindowMs(lease: LeaseRecord): number {
  return Math.min(60_000, Math.max(5_000, (lease.expiresAt - lease.issuedAt) * 0.2));
}

/**
 * Get-or-issue the lease for (task, target). One credential per lease across replicas: the issuer holds a
 * Redis lock (`SET NX PX`); the others wait for the lease to appear. A lease near its end under a live task
 * is renewed transparently and the old credential revoked.
 */
export class LeaseService {
  readonly #o: LeaseServiceOptions;
  readonly #now: () => number;
  readonly cache: ExpiringCache<LeaseRecord>;

  constructor(options: LeaseServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.cache = new ExpiringCache<LeaseRecord>(options.cacheSize ?? 10_000, this.#now);
  }

  async acquire(req: LeaseRequest): Promise<LeaseRecord> {
    const key = `${req.task.id}:${req.target}`;
    const cached = this.cache.get(key);
    if (cached && !this.#needsRenewal(cached, req.task)) return cached;
    const deadline = this.#now() + LOCK_TTL_MS;
    for (;;) {
      const stored = await this.#read(req.task.id, req.target);
      if (stored && !this.#needsRenewal(stored, req.task)) return this.#remember(key, stored);
      const token = await this.#o.store.locks.acquire(leaseAad(req.task.id, req.target), LOCK_TTL_MS);
      if (token !== null) {
        try {
          return this.#remember(key, await this.#issueLocked(req, stored));
        } finally {
          await this.#o.store.locks.release(leaseAad(req.task.id, req.target), token).catch(() => {});
        }
      }
      if (this.#now() > deadline) throw new EscrowError('credential_unavailable', 'timed out waiting for the lease');
      await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
    }
  }

  #needsRenewal(lease: LeaseRecord, task: Task): boolean {
    const now = this.#now();
    if (lease.expiresAt <= now) return true;
    return lease.expiresAt - now < renewWindowMs(lease) && task.expiresAt - lease.expiresAt > 1_000;
  }

  #remember(key: string, lease: LeaseRecord): LeaseRecord {
    this.cache.set(key, lease, lease.expiresAt - renewWindowMs(lease));
    return lease;
  }

  async #read(taskId: string, target: string): Promise<LeaseRecord | null> {
    const envelope = await this.#o.store.leases.get(taskId, target);
    if (envelope === null) return null;
    return JSON.parse(this.#o.cipher.open(envelope, leaseAad(taskId, target))) as LeaseRecord;
  }

  async #issueLocked(req: LeaseRequest, previous: LeaseRecord | null): Promise<LeaseRecord> {
    // Re-read under the lock: another replica may have issued between our read and our lock.
    const current = await this.#read(req.task.id, req.target);
    if (current && !this.#needsRenewal(current, req.task)) return current;
    if (!this.#o.audit.healthy && this.#o.auditFailMode === 'closed') {
      throw new EscrowError('audit_unavailable', 'the audit sink is unavailable: no new credentials are issued');
    }
    const now = this.#now();
    const taskLeft = Math.floor((req.task.expiresAt - now) / 1000);
    if (taskLeft < 1) throw new EscrowError('task_closed', 'the task is expiring');
    const leaseId = `lse_${randomBytes(12).toString('base64url')}`;
    const scope = {
      leaseId,
      taskId: req.task.id,
      target: req.target,
      principalId: req.principal.id,
      intent: req.task.intent,
      ttlSeconds: Math.min(req.ttlSeconds, taskLeft),
    };
    let credential: Awaited<ReturnType<Adapter['issue']>>;
    try {
      credential = await req.adapter.issue(scope);
    } catch (cause) {
      if (cause instanceof EscrowError) throw cause;
      throw new EscrowError('credential_unavailable', 'the adapter could not issue a credential', { cause });
    }
    const lease: LeaseRecord = {
      id: leaseId,
      taskId: req.task.id,
      target: req.target,
      adapter: req.adapter.kind,
      credential,
      issuedAt: now,
      expiresAt: now + Math.min(credential.ttlSeconds, scope.ttlSeconds) * 1000,
      fingerprint: this.#o.audit.fingerprint(primarySecret(credential)),
      decisionId: req.decisionId,
    };
    const envelope = this.#o.cipher.seal(JSON.stringify(lease), leaseAad(req.task.id, req.target));
    const storeTtl = req.task.expiresAt - now + LEASE_GRACE_MS;
    const old = current ?? previous;
    if (old) await this.#o.store.leases.replace(req.task.id, req.target, envelope, storeTtl);
    else if (!(await this.#o.store.leases.putIfAbsent(req.task.id, req.target, envelope, storeTtl))) {
      throw new EscrowError('credential_unavailable', 'lease written concurrently');
    }
    this.#o.metrics.leasesIssued.inc({ target: req.target, adapter: req.adapter.kind });
    this.#o.audit.record({
      event: old ? 'lease.renewed' : 'lease.issued',
      requestId: req.requestId,
      decisionId: req.decisionId,
      principal: principalRef(req.principal),
      task: { id: req.task.id, chain: [...req.task.ancestors, req.task.id], intent: req.task.intent },
      target: req.target,
      leaseId,
      secretFingerprint: lease.fingerprint,
      adapter: req.adapter.kind,
      expiresAt: new Date(lease.expiresAt).toISOString(),
      ...(old ? { previousLeaseId: old.id } : {}),
    });
    if (old) this.#o.onReplaced?.(old, req.adapter);
    return lease;
  }

  /** Every lease still stored for a task (for the task API's view). */
  async list(taskId: string, targets: readonly string[]): Promise<LeaseRecord[]> {
    const out: LeaseRecord[] = [];
    for (const target of targets) {
      const lease = await this.#read(taskId, target);
      if (lease) out.push(lease);
    }
    return out;
  }

  /** Open an envelope returned by the store (revocation path). */
  openEnvelope(envelope: string, taskId: string, target: string): LeaseRecord {
    return JSON.parse(this.#o.cipher.open(envelope, leaseAad(taskId, target))) as LeaseRecord;
  }
}
