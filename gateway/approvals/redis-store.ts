import type { Redis } from 'ioredis';
import { EscrowError } from '../errors.js';
import type { Approval, ApprovalDecision, ApprovalState, ApprovalSubject } from './model.js';
import * as scripts from './redis-scripts.js';
import type { ApprovalStore, ClaimResult, ConsumeResult } from './store.js';

/**
 * Keys (beside the store's own, same prefix): `approval:{<id>}` (hash), `approvals:pending` (sorted set by expiry),
 * `approvals:requester:<hash>` (sorted set), `task:{<taskId>}:approvals` (hash, in the task's slot).
 */
function keys(prefix: string) {
  return {
    approval: (id: string) => `${prefix}approval:{${id}}`,
    pending: `${prefix}approvals:pending`,
    requester: (hash: string) => `${prefix}approvals:requester:${hash}`,
    task: (taskId: string) => `${prefix}task:{${taskId}}:approvals`,
  };
}

function parse(fields: Record<string, string>): Approval | null {
  if (fields.d === undefined || fields.s === undefined) return null;
  return {
    subject: JSON.parse(fields.d) as ApprovalSubject,
    state: fields.s as ApprovalState,
    ...(fields.x ? { decision: JSON.parse(fields.x) as ApprovalDecision } : {}),
    ...(fields.u !== undefined ? { usesLeft: Number(fields.u) } : {}),
    ...(fields.v !== undefined ? { validUntil: Number(fields.v) } : {}),
  };
}

/** The Redis approval store over the store's own client (no offline queue, bounded commands). */
export function createRedisApprovalStore(client: Redis, prefix: string, onError?: (e: Error) => void): ApprovalStore {
  const k = keys(prefix);
  const run = async <T>(op: () => Promise<T>): Promise<T> =>
    op().catch((error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      onError?.(err);
      throw new EscrowError('store_unavailable', 'the approval store is unavailable', { cause: err });
    });
  const script = <T>(text: string, key: string, ...args: (string | number)[]) =>
    run(async () => (await client.eval(text, 1, key, ...args)) as T);
  return {
    records: {
      put: async (subject, requestKey, ttlMs) =>
        (await script<number>(
          scripts.PUT,
          k.approval(subject.id),
          JSON.stringify(subject),
          subject.expiresAt,
          requestKey,
          ttlMs,
        )) === 1,
      get: (id) => run(async () => parse(await client.hgetall(k.approval(id)))),
    },
    transitions: {
      claim: (id, claimant, now, claimUntil) =>
        script<ClaimResult>(scripts.CLAIM, k.approval(id), claimant, now, claimUntil),
      commit: async (id, claimant, decision, grant, ttlMs) =>
        (await script<number>(
          scripts.COMMIT,
          k.approval(id),
          claimant,
          decision.outcome,
          JSON.stringify(decision),
          grant ? grant.uses : '',
          grant ? grant.validUntil : '',
          ttlMs,
        )) === 1,
      unclaim: async (id, claimant) => {
        await script(scripts.UNCLAIM, k.approval(id), claimant);
      },
      consume: (id, key, now) => script<ConsumeResult>(scripts.CONSUME, k.approval(id), key, now),
      settle: async (id, to, now) => (await script<number>(scripts.SETTLE, k.approval(id), to, now)) === 1,
    },
    tasks: {
      bindings: (taskId) => run(() => client.hgetall(k.task(taskId))),
      bind: async (taskId, field, expected, id, ttlMs) =>
        (await script<number>(scripts.BIND, k.task(taskId), field, expected ?? '', id, ttlMs)) === 1,
    },
    requesters: {
      reserve: async (hash, id, expiresAt, now, max) =>
        (await script<number>(
          scripts.RESERVE,
          k.requester(hash),
          id,
          now,
          max,
          expiresAt,
          expiresAt - now + 60_000,
        )) === 1,
      release: (hash, id) =>
        run(async () => {
          await client.zrem(k.requester(hash), id);
        }),
    },
    pending: {
      add: (id, expiresAt) =>
        run(async () => {
          await client.zadd(k.pending, expiresAt, id);
        }),
      remove: (id) =>
        run(async () => {
          await client.zrem(k.pending, id);
        }),
      range: (from, until, limit) =>
        run(() =>
          client.zrangebyscore(
            k.pending,
            Number.isFinite(from) ? from : '-inf',
            Number.isFinite(until) ? until : '+inf',
            'LIMIT',
            0,
            limit,
          ),
        ),
      count: (from) => run(() => client.zcount(k.pending, from, '+inf')),
    },
  };
}
