import { randomBytes } from 'node:crypto';
import type { Store } from '../store/types.js';

/** Why a task's leases are revoked (the `reason` of `lease.revoked` and `escrow_leases_revoked_total`). */
export type CloseReason = 'task_closed' | 'task_expired' | 'parent_closed' | 'admin';

/** How long a closed task's record and tombstone (and its leases awaiting revocation) are kept at least. */
export const RETAIN_MS = 5 * 60_000;
/** A close not finished by its replica this long after it started is finished by any replica (the outbox). */
export const OUTBOX_DUE_MS = 10_000;
/** A lease taken for revocation by a close job that has not settled it this long after is taken over. */
export const CLAIM_STALE_MS = 60_000;

const REASONS: ReadonlySet<string> = new Set(['task_closed', 'task_expired', 'parent_closed', 'admin']);

/** How one taken lease's upstream revocation ended. */
export interface RevocationOutcome {
  readonly taskId: string;
  readonly ref: string;
  readonly revoked: boolean;
}

/** One close of one task (and its steps), from its first attempt until its leases are revoked upstream. */
export interface CloseJob {
  readonly taskId: string;
  readonly reason: CloseReason;
  readonly hash: string | undefined;
  /** This job's claim on the leases it takes (gateway/store/types.ts `take`). */
  readonly claim: string;
  /** Its entry in the durable outbox: `<taskId>:<reason>:<principalHash|->`. */
  readonly member: string;
  outboxed: boolean;
  /** Set once the store phase went through: how many leases it took. */
  taken: number | undefined;
  running: Promise<number> | undefined;
  /** Upstream revocations started, by `<taskId> <ref>`: each lease once, whatever the number of attempts. */
  readonly revocations: Map<string, Promise<RevocationOutcome>>;
}

export function newJob(taskId: string, reason: CloseReason, hash: string | undefined): CloseJob {
  return {
    taskId,
    reason,
    hash,
    claim: randomBytes(9).toString('base64url'),
    member: `${taskId}:${reason}:${hash ?? '-'}`,
    outboxed: false,
    taken: undefined,
    running: undefined,
    revocations: new Map(),
  };
}

/** The job an outbox member describes (another replica's close to finish), or undefined if malformed. */
export function fromMember(member: string): CloseJob | undefined {
  const [taskId, reason, hash, ...rest] = member.split(':');
  if (!taskId || !reason || !hash || rest.length > 0 || !REASONS.has(reason)) return undefined;
  const job = newJob(taskId, reason as CloseReason, hash === '-' ? undefined : hash);
  return job.member === member ? job : undefined;
}

const SETTLE_RETRY_MS = 500;

/**
 * Once every upstream revocation of the job ended: forget the revoked leases in the store, and remove the outbox
 * entry if nothing is left; anything left (a revocation given up, a lease another job claims) is due again from
 * the outbox once that claim is stale. Store failures are retried until `stopped()`.
 */
export async function settleJob(job: CloseJob, store: Store, now: () => number, stopped: () => boolean) {
  const results = await Promise.all(job.revocations.values());
  const byTask = new Map<string, string[]>();
  for (const r of results) if (r.revoked) byTask.set(r.taskId, [...(byTask.get(r.taskId) ?? []), r.ref]);
  while (!stopped()) {
    try {
      let pending = 0;
      for (const [taskId, refs] of byTask) pending += await store.leases.settle(taskId, refs);
      if (pending === 0 && results.every((r) => r.revoked)) await store.closing.done(job.member);
      else await store.closing.schedule(job.member, now() + CLAIM_STALE_MS);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_RETRY_MS).unref());
    }
  }
}
