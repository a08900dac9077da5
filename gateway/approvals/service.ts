import type { AuditLog } from '../audit/types.js';
import { ExpiringCache } from '../cache.js';
import { EscrowError } from '../errors.js';
import type { Logger } from '../log.js';
import { principalHash } from '../tasks/model.js';
import { requestedEvent, settledEvent } from './events.js';
import type { ApprovalMetrics, ApprovalOutcome } from './metrics.js';
import { type Approval, type ApprovalSubject, visibleState } from './model.js';
import type { ApprovalStore } from './store.js';
import { Waiters } from './waiters.js';
import type { Webhook } from './webhook.js';

/** The `approvals:` config section (gateway/config/schema.ts). */
export interface ApprovalLimits {
  readonly ttlSeconds: number;
  readonly grantWindowSeconds: number;
  readonly maxPendingPerRequester: number;
}

export interface ApprovalDeps {
  readonly store: ApprovalStore;
  readonly audit: AuditLog;
  readonly metrics: ApprovalMetrics;
  readonly limits: ApprovalLimits;
  readonly log: Logger;
  readonly now: () => number;
  readonly webhook?: Webhook;
  /** Send a notice on the revocation channel (every replica, this one included, hears it). */
  readonly publish: (message: string) => Promise<void>;
  /** Close a task now, on every replica (the revoker's path): its leases and steps go with it. */
  readonly closeTask: (taskId: string) => Promise<unknown>;
}

/** How long a settled approval stays readable (GET task → `denied`/`expired`, the trail's links). */
export const RETAIN_MS = 60 * 60_000;

/**
 * Approvals: what waits for a person, shared by replicas through the store. This class holds what every path
 * needs (create, settle, notices, sweeping); the agent's side is agent.ts and tasks.ts, the person's decide.ts.
 */
export class ApprovalService {
  readonly o: ApprovalDeps;
  readonly waiters = new Waiters();
  /** Task approvals known granted (final until the task ends): no store read per request once approved. */
  readonly granted: ExpiringCache<true>;

  constructor(deps: ApprovalDeps) {
    this.o = deps;
    this.granted = new ExpiringCache<true>(10_000, deps.now);
  }

  get(id: string): Promise<Approval | null> {
    return this.o.store.records.get(id);
  }

  /** Up to `limit` approvals that wait for a person now, oldest deadline first (the admin view, a person's list). */
  async pending(limit: number): Promise<Approval[]> {
    const now = this.o.now();
    const ids = await this.o.store.pending.range(now, Number.POSITIVE_INFINITY, limit);
    const pending: Approval[] = [];
    for (const id of ids) {
      const approval = await this.get(id);
      if (approval && visibleState(approval, now) === 'pending') pending.push(approval);
    }
    return pending;
  }

  /**
   * Record a new pending approval: readable by id, bound under its task (`field`, if it still holds `expected`),
   * within its requester's bound, listed as pending, audited as `approval.requested` and announced. False when a
   * concurrent request bound its own first (the caller waits for that one).
   */
  async create(subject: ApprovalSubject, key: string, field: string, expected: string | null, requestId: string) {
    const { store } = this.o;
    const ttl = this.retention(subject);
    const quietly = () => store.transitions.settle(subject.id, 'cancelled', subject.requestedAt).catch(() => false);
    // Written before it is bound: whoever finds the binding finds the record. A loser of the race to bind is left
    // cancelled and unlisted, and never took a slot: nobody is asked about it.
    await store.records.put(subject, key, ttl);
    if (!(await store.tasks.bind(subject.task.id, field, expected, subject.id, ttl))) {
      await quietly();
      return false;
    }
    const max = this.o.limits.maxPendingPerRequester;
    if (
      !(await store.requesters.reserve(
        principalHash(subject.requester),
        subject.id,
        subject.expiresAt,
        subject.requestedAt,
        max,
      ))
    ) {
      await quietly();
      throw new EscrowError('approval_limit', `at most ${max} approvals may wait for a person per principal`);
    }
    await store.pending.add(subject.id, subject.expiresAt);
    this.o.audit.record(requestedEvent(subject, requestId));
    this.o.webhook?.notify('approval.requested', { subject, state: 'pending' });
    return true;
  }

  /** How long an approval's keys live: past its expiry and its task's, so that outcomes stay readable. */
  retention(subject: ApprovalSubject): number {
    return Math.max(subject.expiresAt, subject.task.expiresAt) - subject.requestedAt + RETAIN_MS;
  }

  /**
   * pending → expired (overdue) or cancelled (its task closed). Exactly one caller, on any replica, wins the step
   * and records it; a task that waited is closed with it.
   */
  async settle(id: string, to: 'expired' | 'cancelled'): Promise<boolean> {
    const now = this.o.now();
    if (!(await this.o.store.transitions.settle(id, to, now))) return false;
    const approval = await this.get(id);
    if (approval) await this.settled(approval, to === 'expired' ? 'expired' : 'cancelled', now);
    return true;
  }

  /** After any outcome: unlist, free the requester's slot, count, audit (not decisions: decide.ts), notify. */
  async settled(approval: Approval, outcome: ApprovalOutcome, at: number): Promise<void> {
    const s = approval.subject;
    this.o.metrics.decisions.inc({ kind: s.kind, outcome });
    this.o.metrics.timeToDecision.observe({ kind: s.kind, outcome }, Math.max(0, at - s.requestedAt) / 1000);
    if (outcome === 'expired' || outcome === 'cancelled') this.o.audit.record(settledEvent(approval, outcome));
    this.o.webhook?.notify(`approval.${outcome}`, { ...approval, state: outcome === 'granted' ? 'approved' : outcome });
    // A cancelled approval's task is already closed; a denied or expired one's is closed now.
    await this.afterward(approval, outcome === 'denied' || outcome === 'expired');
  }

  /** Idempotent clean-up after an outcome: also run again when a retried decision finds its own. */
  async afterward(approval: Approval, closesTask: boolean): Promise<void> {
    const s = approval.subject;
    await this.o.store.pending.remove(s.id).catch(() => {});
    await this.o.store.requesters.release(principalHash(s.requester), s.id).catch(() => {});
    await this.o.publish(`approval:${s.id}:${s.task.id}`).catch(() => {});
    if (closesTask && s.kind === 'task') await this.o.closeTask(s.task.id);
  }

  /**
   * A notice from the revocation channel (gateway/leases/revoker.ts): `approval:<id>:<taskId>` (decided), or
   * `task:<id>` (closed or expired: its pending approvals are cancelled; every replica tries, one wins), or `*`.
   */
  onNotice(message: string): void {
    if (message === '*') {
      this.waiters.notifyAll();
      return;
    }
    if (message.startsWith('approval:')) {
      const [, id, taskId] = message.split(':');
      if (id) this.waiters.notify(`approval:${id}`);
      if (taskId) this.waiters.notify(`task:${taskId}`);
      return;
    }
    if (!message.startsWith('task:')) return;
    const taskId = message.slice(5);
    this.waiters.notify(`task:${taskId}`);
    this.granted.deletePrefix(`${taskId}:`);
    this.#cancelFor(taskId).catch((error: Error) =>
      this.o.log.warn({ taskId, err: error.message }, 'cannot cancel the approvals of a closed task'),
    );
  }

  async #cancelFor(taskId: string): Promise<void> {
    const bindings = await this.o.store.tasks.bindings(taskId);
    // A task that expired took its overdue approvals with it: those expired (the sweep may not have run yet).
    for (const id of new Set(Object.values(bindings))) {
      if (!(await this.settle(id, 'expired'))) await this.settle(id, 'cancelled');
    }
  }

  /** Expire what is overdue (every replica runs this; the store lets one win each). Returns how many it expired. */
  async sweep(limit = 200): Promise<number> {
    const now = this.o.now();
    let count = 0;
    for (const id of await this.o.store.pending.range(Number.NEGATIVE_INFINITY, now, limit)) {
      if (await this.settle(id, 'expired')) count++;
      else {
        // Settled elsewhere (or gone): only the index entry is left.
        const state = (await this.get(id))?.state;
        if (state !== 'pending' && state !== 'deciding') await this.o.store.pending.remove(id);
      }
    }
    return count;
  }

  close(): void {
    this.waiters.notifyAll();
    this.o.webhook?.close();
  }
}
