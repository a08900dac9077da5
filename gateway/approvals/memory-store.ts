import type { Approval, ApprovalDecision, ApprovalState, ApprovalSubject } from './model.js';
import type { ApprovalStore, ClaimResult, ConsumeResult } from './store.js';

/** One approval as the memory store holds it: the fields of the Redis hash (redis-scripts.ts), and its TTL. */
interface Entry {
  readonly subject: ApprovalSubject;
  readonly key: string;
  state: ApprovalState;
  decision?: ApprovalDecision;
  uses?: number;
  validUntil?: number;
  claimant?: string;
  claimUntil?: number;
}

/** What a claim-holding state reads as: a lapsed (or, when cancelling, any) claim is pending again. */
function effective(e: Entry, now: number, anyClaim = false): ApprovalState {
  if (e.state !== 'deciding') return e.state;
  return anyClaim || (e.claimUntil ?? 0) <= now ? 'pending' : 'deciding';
}

function claim(e: Entry, claimant: string, now: number, claimUntil: number): ClaimResult {
  if (e.claimant === claimant) {
    if (e.state === 'deciding') {
      e.claimUntil = claimUntil;
      return 'claimed';
    }
    if (e.state === 'approved' || e.state === 'denied') return 'done';
  }
  const state = effective(e, now);
  if (state === 'deciding') return 'busy';
  if (state !== 'pending') return state;
  if (e.subject.expiresAt <= now) {
    Object.assign(e, { state: 'expired', claimant: undefined, claimUntil: undefined });
    return 'expired!';
  }
  Object.assign(e, { state: 'deciding', claimant, claimUntil });
  return 'claimed';
}

function consume(e: Entry, key: string, now: number): ConsumeResult {
  const state = effective(e, now);
  if (state === 'deciding') return 'pending';
  if (state === 'pending') return e.subject.expiresAt <= now ? 'overdue' : 'pending';
  if (state !== 'approved') return state;
  if (e.key !== key) return 'mismatch';
  if ((e.validUntil ?? 0) <= now) return 'lapsed';
  if ((e.uses ?? 0) <= 0) return 'spent';
  e.uses = (e.uses ?? 0) - 1;
  return 'ok';
}

function expiringMap<V>(now: () => number) {
  const map = new Map<string, { value: V; diesAt: number }>();
  return {
    get(key: string): V | undefined {
      const entry = map.get(key);
      if (entry && entry.diesAt <= now()) map.delete(key);
      return entry && entry.diesAt > now() ? entry.value : undefined;
    },
    set(key: string, value: V, ttlMs: number): void {
      map.set(key, { value, diesAt: Math.max(map.get(key)?.diesAt ?? 0, now() + ttlMs) });
    },
  };
}

/** The in-memory approval store (one process): the Redis store's behaviour, one Map per key family. */
export function createMemoryApprovalStore(now: () => number = Date.now): ApprovalStore {
  const entries = expiringMap<Entry>(now);
  const bindings = expiringMap<Map<string, string>>(now);
  const requesters = new Map<string, Map<string, number>>();
  const pending = new Map<string, number>();
  const view = (e: Entry): Approval => ({
    subject: e.subject,
    state: e.state,
    ...(e.decision ? { decision: e.decision } : {}),
    ...(e.uses !== undefined ? { usesLeft: e.uses } : {}),
    ...(e.validUntil !== undefined ? { validUntil: e.validUntil } : {}),
  });
  return {
    records: {
      async put(subject, key, ttlMs) {
        if (entries.get(subject.id)) return false;
        entries.set(subject.id, { subject, key, state: 'pending' }, ttlMs);
        return true;
      },
      async get(id) {
        const e = entries.get(id);
        return e ? view(e) : null;
      },
    },
    transitions: {
      async claim(id, claimant, at, claimUntil) {
        const e = entries.get(id);
        return e ? claim(e, claimant, at, claimUntil) : 'missing';
      },
      async commit(id, claimant, decision, grant, ttlMs) {
        const e = entries.get(id);
        if (!e || e.claimant !== claimant) return false;
        if (e.state === decision.outcome) return true;
        if (e.state !== 'deciding') return false;
        Object.assign(
          e,
          { state: decision.outcome, decision },
          grant ? { uses: grant.uses, validUntil: grant.validUntil } : {},
        );
        entries.set(id, e, ttlMs);
        return true;
      },
      async unclaim(id, claimant) {
        const e = entries.get(id);
        if (e?.state === 'deciding' && e.claimant === claimant) {
          Object.assign(e, { state: 'pending', claimant: undefined, claimUntil: undefined });
        }
      },
      async consume(id, key, at) {
        const e = entries.get(id);
        return e ? consume(e, key, at) : 'missing';
      },
      async settle(id, to, at) {
        const e = entries.get(id);
        if (!e || effective(e, at, to === 'cancelled') !== 'pending') return false;
        if (to === 'expired' && e.subject.expiresAt > at) return false;
        Object.assign(e, { state: to, claimant: undefined, claimUntil: undefined });
        return true;
      },
    },
    tasks: {
      async bindings(taskId) {
        return Object.fromEntries(bindings.get(taskId) ?? []);
      },
      async bind(taskId, field, expected, id, ttlMs) {
        const fields = bindings.get(taskId) ?? new Map<string, string>();
        if ((fields.get(field) ?? null) !== expected) return false;
        fields.set(field, id);
        bindings.set(taskId, fields, ttlMs);
        return true;
      },
    },
    requesters: {
      async reserve(hash, id, expiresAt, at, max) {
        const live = new Map([...(requesters.get(hash) ?? [])].filter(([, until]) => until > at));
        requesters.set(hash, live);
        if (live.size >= max) return false;
        live.set(id, expiresAt);
        return true;
      },
      async release(hash, id) {
        requesters.get(hash)?.delete(id);
      },
    },
    pending: {
      async add(id, expiresAt) {
        pending.set(id, expiresAt);
      },
      async remove(id) {
        pending.delete(id);
      },
      async range(from, until, limit) {
        return [...pending]
          .filter(([, at]) => at >= from && at <= until)
          .sort(([, a], [, b]) => a - b)
          .slice(0, limit)
          .map(([id]) => id);
      },
      async count(from) {
        return [...pending.values()].filter((at) => at >= from).length;
      },
    },
  };
}
