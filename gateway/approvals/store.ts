import type { Approval, ApprovalDecision, ApprovalSubject } from './model.js';

/**
 * Where approvals live: Redis (shared by replicas) or memory (one process), same behaviour, checked by one
 * contract suite (test/unit/approvals/store-contract.ts). Every state change is one atomic step on one key, so that a
 * command that timed out but ran is either seen by the retry or was never there. Methods reject with
 * EscrowError('store_unavailable') when the store is down.
 */
export interface ApprovalRecords {
  /** Write a new pending approval; false when one with that id exists. The record lives `ttlMs`. */
  put(subject: ApprovalSubject, requestKey: string, ttlMs: number): Promise<boolean>;
  get(id: string): Promise<Approval | null>;
}

/** `claimed` (yours now, or again), `done` (your own decision already written), `busy` (someone else is writing). */
export type ClaimResult =
  | 'claimed'
  | 'done'
  | 'busy'
  | 'missing'
  | 'expired!'
  | 'approved'
  | 'denied'
  | 'expired'
  | 'cancelled';

/** `ok` (one use taken), `pending`, `overdue` (pending past its expiry), or why the grant no longer covers it. */
export type ConsumeResult =
  | 'ok'
  | 'pending'
  | 'overdue'
  | 'denied'
  | 'expired'
  | 'cancelled'
  | 'spent'
  | 'lapsed'
  | 'mismatch'
  | 'missing';

/**
 * A person's decision is written in two steps around its audit event (Vault's rule: nothing takes effect that
 * the trail does not show): `claim` takes the approval for one decider (`claimant`, re-entrant for the same one)
 * until `claimUntil`; `commit` writes the decision. A claim that is never committed lapses and the approval is
 * pending again. `expired!` means this call found it overdue and expired it (its caller records that).
 */
export interface ApprovalTransitions {
  claim(id: string, claimant: string, now: number, claimUntil: number): Promise<ClaimResult>;
  commit(
    id: string,
    claimant: string,
    decision: ApprovalDecision,
    grant: Grant | undefined,
    ttlMs: number,
  ): Promise<boolean>;
  unclaim(id: string, claimant: string): Promise<void>;
  /** Take one use of a granted request approval whose key is `key`. */
  consume(id: string, key: string, now: number): Promise<ConsumeResult>;
  /** pending → `expired` (only once overdue) or → `cancelled` (its task closed; also takes a live claim). */
  settle(id: string, to: 'expired' | 'cancelled', now: number): Promise<boolean>;
}

export interface Grant {
  readonly uses: number;
  readonly validUntil: number;
}

/** Per task: `task` → its own approval, `r:<requestKey>` → the approval of that request. */
export interface TaskApprovals {
  bindings(taskId: string): Promise<Readonly<Record<string, string>>>;
  /** Point `field` at `id` if it still points at `expected` (null: unset). */
  bind(taskId: string, field: string, expected: string | null, id: string, ttlMs: number): Promise<boolean>;
}

/** Pending approvals per requester, bounded: a prompt-injected agent cannot page people without end. */
export interface RequesterLimits {
  /** Add `id` unless the requester already has `max` pending (entries past their expiry do not count). */
  reserve(requesterHash: string, id: string, expiresAt: number, now: number, max: number): Promise<boolean>;
  release(requesterHash: string, id: string): Promise<void>;
}

/** Every pending approval by expiry: to list, to expire and to count. */
export interface PendingIndex {
  add(id: string, expiresAt: number): Promise<void>;
  remove(id: string): Promise<void>;
  /** Ids whose expiry is in [from, until], soonest first. */
  range(from: number, until: number, limit: number): Promise<readonly string[]>;
  count(from: number): Promise<number>;
}

export interface ApprovalStore {
  readonly records: ApprovalRecords;
  readonly transitions: ApprovalTransitions;
  readonly tasks: TaskApprovals;
  readonly requesters: RequesterLimits;
  readonly pending: PendingIndex;
}
