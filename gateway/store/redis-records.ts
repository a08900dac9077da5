import type { Redis } from 'ioredis';
import type { KeyLayout } from './keys.js';
import {
  ADD_CHILD,
  CLOSE_TASK,
  DELETE_TASK,
  PUT_LEASE_IF_ABSENT,
  REPLACE_LEASE,
  RESERVE_TASK,
  SETTLE_LEASES,
  TAKE_LEASES,
} from './redis-scripts.js';
import type { CloseOutbox, LeaseStore, LeaseWrite, TaskIndex, TaskStore } from './types.js';

/** Runs one store operation, turning any failure into EscrowError('store_unavailable'). */
export type Run = <T>(op: () => Promise<T>) => Promise<T>;

function splitMember(member: string): { taskId: string; principalHash: string } {
  const at = member.lastIndexOf(':');
  return { taskId: member.slice(0, at), principalHash: member.slice(at + 1) };
}

const leaseWrite = (answer: unknown): LeaseWrite => (answer === 1 ? 'written' : answer === 0 ? 'exists' : 'closed');

/** Task records and tombstones (every key of one task in one slot). */
export function redisTaskStore(client: Redis, keys: KeyLayout, run: Run): TaskStore {
  return {
    put: (id, record, ttlMs, parent) =>
      run(async () => {
        await client.set(keys.task(id), record, 'PX', ttlMs);
        // A separate command: the child's record and its parent's child set are in different slots.
        if (parent !== undefined) await client.eval(ADD_CHILD, 1, keys.taskChildren(parent), id, ttlMs);
      }),
    get: (id) => run(() => client.get(keys.task(id))),
    read: (id) =>
      run(async () => {
        const [record, tombstone] = await client.mget(keys.task(id), keys.taskClosed(id));
        return record == null ? null : { record, tombstone: tombstone ?? null };
      }),
    close: (id, tombstone, retainMs, replace = false) =>
      run(async () => {
        const answer = (await client.eval(
          CLOSE_TASK,
          3,
          keys.task(id),
          keys.taskClosed(id),
          keys.taskChildren(id),
          tombstone,
          Math.ceil(retainMs),
          replace ? '1' : '0',
          keys.revocations,
          `task:${id}`,
        )) as string[] | null;
        if (answer === null) return null;
        const [record, current, ...children] = answer;
        return { entry: { record: record!, tombstone: current ?? null }, children };
      }),
    delete: (id) =>
      run(
        async () =>
          (await client.eval(DELETE_TASK, 3, keys.task(id), keys.taskChildren(id), keys.taskClosed(id))) as string[],
      ),
  };
}

/** Leases: fenced writes, and taking them out of service for revocation. */
export function redisLeaseStore(client: Redis, keys: KeyLayout, run: Run): LeaseStore {
  const write = (script: string, taskId: string, target: string, value: string, ttlMs: number, fence: string) =>
    run(async () =>
      leaseWrite(
        await client.eval(
          script,
          3,
          keys.lease(taskId, target),
          keys.taskLeases(taskId),
          keys.taskClosed(taskId),
          value,
          Math.ceil(ttlMs),
          fence,
        ),
      ),
    );
  return {
    get: (taskId, target) => run(() => client.get(keys.lease(taskId, target))),
    putIfAbsent: (taskId, target, value, ttlMs, fence = '') =>
      write(PUT_LEASE_IF_ABSENT, taskId, target, value, ttlMs, fence),
    replace: async (taskId, target, value, ttlMs, fence = '') =>
      write(REPLACE_LEASE, taskId, target, value, ttlMs, fence),
    take: (taskId, o) =>
      run(async () => {
        const flat = (await client.eval(
          TAKE_LEASES,
          2,
          keys.taskLeases(taskId),
          keys.taskRevoking(taskId),
          o.claim,
          Math.floor(o.nowMs),
          Math.ceil(o.staleAfterMs),
          Math.ceil(o.retainMs),
          keys.lease(taskId, ''),
        )) as string[];
        const out = [];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          out.push({ ref: flat[i]!, target: flat[i]!.slice(41), value: flat[i + 1]! });
        }
        return out;
      }),
    settle: (taskId, refs) =>
      run(async () => Number(await client.eval(SETTLE_LEASES, 1, keys.taskRevoking(taskId), ...refs))),
  };
}

/** The task indexes: per principal (the open-task limit) and of every task (sweeper, kill switch, listings). */
export function redisTaskIndex(client: Redis, keys: KeyLayout, run: Run): TaskIndex {
  return {
    reserve: (taskId, hash, expiresAtMs, nowMs, max) =>
      run(async () => {
        const added = await client.eval(RESERVE_TASK, 1, keys.principalTasks(hash), nowMs, max, expiresAtMs, taskId);
        return added === 1;
      }),
    add: (taskId, hash, expiresAtMs) =>
      run(async () => {
        await client.zadd(keys.tasks, expiresAtMs, `${taskId}:${hash}`);
      }),
    remove: (taskId, hash) =>
      run(async () => {
        await client.zrem(keys.tasks, `${taskId}:${hash}`);
        await client.zrem(keys.principalTasks(hash), taskId);
      }),
    byPrincipal: (hash, nowMs) =>
      run(async () => {
        await client.zremrangebyscore(keys.principalTasks(hash), '-inf', nowMs);
        return client.zrange(keys.principalTasks(hash), 0, -1);
      }),
    range: (fromMs, untilMs, limit) =>
      run(async () => {
        const until = Number.isFinite(untilMs) ? untilMs : '+inf';
        const from = Number.isFinite(fromMs) ? fromMs : '-inf';
        const members = await client.zrangebyscore(keys.tasks, from, until, 'LIMIT', 0, limit);
        return members.map(splitMember);
      }),
  };
}

/** The close outbox: one sorted set, scored by when the close is due to be finished by someone else. */
export function redisCloseOutbox(client: Redis, keys: KeyLayout, run: Run): CloseOutbox {
  return {
    schedule: (member, dueAtMs) =>
      run(async () => {
        await client.zadd(keys.closing, Math.floor(dueAtMs), member);
      }),
    due: (untilMs, limit) =>
      run(() => client.zrangebyscore(keys.closing, '-inf', Math.floor(untilMs), 'LIMIT', 0, limit)),
    done: (member) =>
      run(async () => {
        await client.zrem(keys.closing, member);
      }),
  };
}
