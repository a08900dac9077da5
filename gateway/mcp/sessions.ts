import { createHash } from 'node:crypto';
import { EscrowError } from '../errors.js';
import type { Store } from '../store/types.js';

/** Who an `Mcp-Session-Id` belongs to: the task (and so the principal) whose `initialize` created it. */
export interface SessionBinding {
  readonly task: string;
  /** `principalHash` of the principal (never the workload id itself). */
  readonly principal: string;
}

/** Where session bindings live: Redis when the store is Redis (every replica sees them), else this process. */
export interface SessionStore {
  /** Bind a new session; false when the id is already bound to another task or principal. */
  bind(target: string, sessionId: string, binding: SessionBinding, ttlMs: number): Promise<boolean>;
  lookup(target: string, sessionId: string): Promise<SessionBinding | null>;
  end(target: string, sessionId: string): Promise<void>;
}

/** The session id is a capability for the upstream's session: only its hash is stored or used as a key. */
function keyOf(prefix: string, target: string, sessionId: string): string {
  return `${prefix}mcp:session:${target}:${createHash('sha256').update(sessionId).digest('hex').slice(0, 40)}`;
}

function parse(text: string | null | undefined): SessionBinding | null {
  if (text === null || text === undefined) return null;
  const value = JSON.parse(text) as { t: string; p: string };
  return { task: value.t, principal: value.p };
}

const same = (a: SessionBinding, b: SessionBinding) => a.task === b.task && a.principal === b.principal;

function unavailable(cause: unknown): EscrowError {
  return new EscrowError('store_unavailable', 'the session store is unavailable', { cause });
}

function redisSessions(redis: NonNullable<Store['redis']>, prefix: string): SessionStore {
  const run = <T>(op: () => Promise<T>) => op().catch((cause: unknown) => Promise.reject(unavailable(cause)));
  return {
    bind: (target, sessionId, binding, ttlMs) =>
      run(async () => {
        const key = keyOf(prefix, target, sessionId);
        const value = JSON.stringify({ t: binding.task, p: binding.principal });
        if ((await redis.set(key, value, 'PX', Math.max(1, ttlMs), 'NX')) === 'OK') return true;
        // Already there: the same binding (a retried initialize that reached Redis) is fine, another one is not.
        const existing = parse(await redis.get(key));
        return existing !== null && same(existing, binding);
      }),
    lookup: (target, sessionId) => run(async () => parse(await redis.get(keyOf(prefix, target, sessionId)))),
    end: (target, sessionId) =>
      run(async () => {
        await redis.del(keyOf(prefix, target, sessionId));
      }),
  };
}

function memorySessions(prefix: string, now: () => number, max = 100_000): SessionStore {
  const entries = new Map<string, { binding: SessionBinding; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry !== undefined && entry.expiresAt <= now()) entries.delete(key);
    return entry !== undefined && entry.expiresAt > now() ? entry : undefined;
  };
  const prune = () => {
    for (const key of entries.keys()) live(key);
    // Still full: the oldest bindings go first (their sessions then answer 404 and the client starts again).
    for (const key of entries.keys()) if (entries.size >= max) entries.delete(key);
  };
  return {
    async bind(target, sessionId, binding, ttlMs) {
      const key = keyOf(prefix, target, sessionId);
      const existing = live(key);
      if (existing !== undefined) return same(existing.binding, binding);
      if (entries.size >= max) prune();
      entries.set(key, { binding, expiresAt: now() + ttlMs });
      return true;
    },
    lookup: async (target, sessionId) => live(keyOf(prefix, target, sessionId))?.binding ?? null,
    async end(target, sessionId) {
      entries.delete(keyOf(prefix, target, sessionId));
    },
  };
}

/** The session store for a gateway's store: shared through Redis, or per process with the memory store. */
export function createSessionStore(store: Store, prefix: string, now: () => number): SessionStore {
  return store.redis ? redisSessions(store.redis, prefix) : memorySessions(prefix, now);
}
