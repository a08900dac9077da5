import { EventEmitter } from 'node:events';
import { createMemoryEventStream } from './memory-events.js';
import {
  type MemoryCore,
  memoryCloseOutbox,
  memoryLeaseStore,
  memoryTaskIndex,
  memoryTaskStore,
} from './memory-records.js';
import type { Store } from './types.js';

interface Entry {
  value: string;
  expiresAt: number;
}

function createCore(now: () => number): MemoryCore & { sweep(): void } {
  const values = new Map<string, Entry>();
  const sets = new Map<string, Set<string>>();
  const get = (key: string): string | null => {
    const entry = values.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= now()) {
      values.delete(key);
      return null;
    }
    return entry.value;
  };
  return {
    now,
    get,
    set: (key, value, ttlMs) => void values.set(key, { value, expiresAt: now() + ttlMs }),
    ttl: (key) => (get(key) === null ? 0 : values.get(key)!.expiresAt - now()),
    retain(key, ttlMs) {
      const entry = values.get(key);
      if (entry && get(key) !== null) entry.expiresAt = Math.max(entry.expiresAt, now() + ttlMs);
    },
    delete: (key) => void values.delete(key),
    members(key) {
      let s = sets.get(key);
      if (!s) {
        s = new Set();
        sets.set(key, s);
      }
      return s;
    },
    dropMembers: (key) => void sets.delete(key),
    sweep() {
      const t = now();
      for (const [k, e] of values) if (e.expiresAt <= t) values.delete(k);
    },
  };
}

/**
 * In-memory store with the same contract as Redis, for the single-process embedded default and tests.
 * Expiry is checked on read (like Redis' lazy expiry) and swept periodically.
 */
export function createMemoryStore(
  options: { now?: () => number; eventsMaxLen?: number; eventsRetentionMs?: number } = {},
): Store {
  const now = options.now ?? Date.now;
  const core = createCore(now);
  const bus = new EventEmitter();
  const events = createMemoryEventStream({
    now,
    retentionMs: options.eventsRetentionMs ?? 3_600_000,
    maxLen: options.eventsMaxLen ?? 500_000,
  });
  const sweep = setInterval(() => core.sweep(), 10_000);
  sweep.unref();
  return {
    kind: 'memory',
    tasks: memoryTaskStore(core, (message) => bus.emit('message', message)),
    leases: memoryLeaseStore(core),
    index: memoryTaskIndex(),
    closing: memoryCloseOutbox(),
    locks: {
      async acquire(name, token, ttlMs) {
        if (core.get(`lock:${name}`) !== null) return false;
        core.set(`lock:${name}`, token, ttlMs);
        return true;
      },
      async release(name, token) {
        if (core.get(`lock:${name}`) === token) core.delete(`lock:${name}`);
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
