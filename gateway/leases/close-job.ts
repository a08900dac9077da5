import { randomBytes } from 'node:crypto';
import type { CloseReason } from './closing.js';

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
