import { createHash } from 'node:crypto';
import type { CloseOutbox, LeaseStore, LeaseWrite, TaskIndex, TaskStore } from './types.js';

/** The memory store's key-value core: values with expiry (checked on read, like Redis' lazy expiry) and sets. */
export interface MemoryCore {
  readonly now: () => number;
  get(key: string): string | null;
  set(key: string, value: string, ttlMs: number): void;
  /** Milliseconds `key` has left (0 when absent). */
  ttl(key: string): number;
  /** Extend `key`'s life to at least `ttlMs` from now. */
  retain(key: string, ttlMs: number): void;
  delete(key: string): void;
  members(key: string): Set<string>;
  dropMembers(key: string): void;
}

/** Task records and tombstones, with the same semantics as the Redis scripts (gateway/store/redis-scripts.ts). */
export function memoryTaskStore(core: MemoryCore, publish: (message: string) => void): TaskStore {
  const read = (id: string) => {
    const record = core.get(`task:${id}`);
    return record === null ? null : { record, tombstone: core.get(`closed:${id}`) };
  };
  return {
    async put(id, record, ttlMs, parent) {
      core.set(`task:${id}`, record, ttlMs);
      if (parent !== undefined) core.members(`children:${parent}`).add(id);
    },
    async get(id) {
      return core.get(`task:${id}`);
    },
    async read(id) {
      return read(id);
    },
    async close(id, tombstone, retainMs, replace = false) {
      if (core.get(`task:${id}`) === null) return null;
      const retain = Math.max(retainMs, core.ttl(`task:${id}`));
      if (replace || core.get(`closed:${id}`) === null) core.set(`closed:${id}`, tombstone, retain);
      core.retain(`task:${id}`, retain);
      core.retain(`closed:${id}`, retain);
      publish(`task:${id}`);
      return { entry: read(id)!, children: [...core.members(`children:${id}`)] };
    },
    async delete(id) {
      core.delete(`task:${id}`);
      core.delete(`closed:${id}`);
      const children = [...core.members(`children:${id}`)];
      core.dropMembers(`children:${id}`);
      return children;
    },
  };
}

/** Leases: fenced writes and claimed takes, as in Redis. */
export function memoryLeaseStore(core: MemoryCore): LeaseStore {
  const key = (taskId: string, target: string) => `lease:${taskId}:${target}`;
  const claims = new Map<string, Map<string, { value: string; claim: string; at: number }>>();
  const write = (taskId: string, target: string, value: string, ttlMs: number, fence: string, nx: boolean) => {
    if ((core.get(`closed:${taskId}`) ?? '') !== fence) return 'closed' as LeaseWrite;
    if (nx && core.get(key(taskId, target)) !== null) return 'exists' as LeaseWrite;
    core.set(key(taskId, target), value, ttlMs);
    core.members(`leases:${taskId}`).add(target);
    return 'written' as LeaseWrite;
  };
  return {
    async get(taskId, target) {
      return core.get(key(taskId, target));
    },
    async putIfAbsent(taskId, target, value, ttlMs, fence = '') {
      return write(taskId, target, value, ttlMs, fence, true);
    },
    async replace(taskId, target, value, ttlMs, fence = '') {
      return write(taskId, target, value, ttlMs, fence, false);
    },
    async take(taskId, o) {
      const held = claims.get(taskId) ?? new Map();
      claims.set(taskId, held);
      for (const target of core.members(`leases:${taskId}`)) {
        const value = core.get(key(taskId, target));
        if (value !== null) {
          const ref = `${createHash('sha1').update(value).digest('hex')}:${target}`;
          held.set(ref, { value, claim: o.claim, at: o.nowMs });
        }
        core.delete(key(taskId, target));
      }
      core.dropMembers(`leases:${taskId}`);
      const out = [];
      for (const [ref, entry] of held) {
        if (entry.claim !== o.claim && entry.at + o.staleAfterMs > o.nowMs) continue;
        held.set(ref, { ...entry, claim: o.claim, at: o.nowMs });
        out.push({ ref, target: ref.slice(41), value: entry.value });
      }
      return out;
    },
    async settle(taskId, refs) {
      const held = claims.get(taskId);
      for (const ref of refs) held?.delete(ref);
      if (held?.size === 0) claims.delete(taskId);
      return held?.size ?? 0;
    },
  };
}

/** The task indexes. Each method is synchronous inside, hence atomic like the Redis scripts. */
export function memoryTaskIndex(): TaskIndex {
  const index = new Map<string, { principalHash: string; expiresAtMs: number }>();
  const principals = new Map<string, Map<string, number>>();
  return {
    async reserve(taskId, principalHash, expiresAtMs, nowMs, max) {
      const open = principals.get(principalHash) ?? new Map<string, number>();
      principals.set(principalHash, open);
      for (const [id, expiry] of open) if (expiry <= nowMs) open.delete(id);
      if (open.has(taskId)) return true;
      if (open.size >= max) return false;
      open.set(taskId, expiresAtMs);
      return true;
    },
    async add(taskId, principalHash, expiresAtMs) {
      index.set(taskId, { principalHash, expiresAtMs });
    },
    async remove(taskId, principalHash) {
      index.delete(taskId);
      principals.get(principalHash)?.delete(taskId);
    },
    async byPrincipal(principalHash, nowMs) {
      const open = principals.get(principalHash) ?? new Map<string, number>();
      for (const [id, expiry] of open) if (expiry <= nowMs) open.delete(id);
      return [...open.keys()];
    },
    async range(fromMs, untilMs, limit) {
      return [...index]
        .filter(([, e]) => e.expiresAtMs >= fromMs && e.expiresAtMs <= untilMs)
        .sort(([, a], [, b]) => a.expiresAtMs - b.expiresAtMs)
        .slice(0, limit)
        .map(([taskId, e]) => ({ taskId, principalHash: e.principalHash }));
    },
  };
}

export function memoryCloseOutbox(): CloseOutbox {
  const due = new Map<string, number>();
  return {
    async schedule(member, dueAtMs) {
      due.set(member, dueAtMs);
    },
    async due(untilMs, limit) {
      return [...due]
        .filter(([, at]) => at <= untilMs)
        .sort(([, a], [, b]) => a - b)
        .slice(0, limit)
        .map(([member]) => member);
    },
    async done(member) {
      due.delete(member);
    },
  };
}
