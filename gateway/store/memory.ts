import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createMemoryEventStream } from './memory-events.js';
import type { Store } from './types.js';

interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * In-memory store with the same contract as Redis, for the single-process embedded default and tests.
 * Expiry is checked on read (like Redis' lazy expiry) and swept periodically.
 */
export function createMemoryStore(
  options: { now?: () => number; eventsMaxLen?: number; eventsRetentionMs?: number } = {},
): Store {
  const now = options.now ?? Date.now;
  const values = new Map<string, Entry>();
  const sets = new Map<string, Set<string>>();
  const index = new Map<string, { principalHash: string; expiresAtMs: number }>();
  const bus = new EventEmitter();
  const events = createMemoryEventStream({
    now,
    retentionMs: options.eventsRetentionMs ?? 3_600_000,
    maxLen: options.eventsMaxLen ?? 500_000,
  });

  const get = (key: string): string | null => {
    const entry = values.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= now()) {
      values.delete(key);
      return null;
    }
    return entry.value;
  };
  const set = (key: string, value: string, ttlMs: number) => values.set(key, { value, expiresAt: now() + ttlMs });
  const members = (key: string) => {
    let s = sets.get(key);
    if (!s) {
      s = new Set();
      sets.set(key, s);
    }
    return s;
  };
  const sweep = setInterval(() => {
    const t = now();
    for (const [k, e] of values) if (e.expiresAt <= t) values.delete(k);
  }, 10_000);
  sweep.unref();

  const leaseKey = (taskId: string, target: string) => `lease:${taskId}:${target}`;
  return {
    kind: 'memory',
    tasks: {
      async put(id, record, ttlMs, parent) {
        set(`task:${id}`, record, ttlMs);
        if (parent !== undefined) members(`children:${parent}`).add(id);
      },
      async get(id) {
        return get(`task:${id}`);
      },
      async delete(id) {
        values.delete(`task:${id}`);
        const children = [...(sets.get(`children:${id}`) ?? [])];
        sets.delete(`children:${id}`);
        return children;
      },
    },
    leases: {
      async get(taskId, target) {
        return get(leaseKey(taskId, target));
      },
      async putIfAbsent(taskId, target, value, ttlMs) {
        if (get(leaseKey(taskId, target)) !== null) return false;
        set(leaseKey(taskId, target), value, ttlMs);
        members(`leases:${taskId}`).add(target);
        return true;
      },
      async replace(taskId, target, value, ttlMs) {
        set(leaseKey(taskId, target), value, ttlMs);
        members(`leases:${taskId}`).add(target);
      },
      async deleteForTask(taskId) {
        const out: { target: string; value: string }[] = [];
        for (const target of sets.get(`leases:${taskId}`) ?? []) {
          const value = get(leaseKey(taskId, target));
          if (value !== null) out.push({ target, value });
          values.delete(leaseKey(taskId, target));
        }
        sets.delete(`leases:${taskId}`);
        return out;
      },
    },
    index: {
      async add(taskId, principalHash, expiresAtMs) {
        index.set(taskId, { principalHash, expiresAtMs });
      },
      async remove(taskId) {
        index.delete(taskId);
      },
      async byPrincipal(principalHash, nowMs) {
        return [...index]
          .filter(([, e]) => e.principalHash === principalHash && e.expiresAtMs > nowMs)
          .map(([id]) => id);
      },
      async range(fromMs, untilMs, limit) {
        return [...index]
          .filter(([, e]) => e.expiresAtMs >= fromMs && e.expiresAtMs <= untilMs)
          .sort(([, a], [, b]) => a.expiresAtMs - b.expiresAtMs)
          .slice(0, limit)
          .map(([taskId, e]) => ({ taskId, principalHash: e.principalHash }));
      },
    },
    locks: {
      async acquire(name, ttlMs) {
        if (get(`lock:${name}`) !== null) return null;
        const token = randomBytes(12).toString('hex');
        set(`lock:${name}`, token, ttlMs);
        return token;
      },
      async release(name, token) {
        if (get(`lock:${name}`) === token) values.delete(`lock:${name}`);
      },
    },
    revocations: {
      async publish(message) {
        bus.emit('message', message);
      },
      async subscribe(onMessage, onState) {
        bus.on('message', onMessage);
        onState(true);
      },
    },
    events,
    async ping() {},
    async close() {
      clearInterval(sweep);
      bus.removeAllListeners();
    },
  };
}
