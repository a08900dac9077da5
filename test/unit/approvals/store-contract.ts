import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApprovalDecision, type ApprovalSubject, newApprovalId } from '../../../gateway/approvals/model.js';
import type { ApprovalStore } from '../../../gateway/approvals/store.js';

export interface ApprovalStoreFixture {
  readonly store: ApprovalStore;
  cleanup(): Promise<void>;
}

const T0 = Date.now();
const MINUTE = 60_000;

export function subject(overrides: Partial<ApprovalSubject> = {}): ApprovalSubject {
  return {
    id: newApprovalId(),
    kind: 'request',
    requester: { type: 'Agent', id: 'spiffe://test.example/agent/a', issuer: 'test' },
    task: {
      id: 'tsk_contract',
      chain: ['tsk_contract'],
      intent: 'refund',
      targets: ['billing'],
      depth: 0,
      openedAt: T0,
      expiresAt: T0 + 60 * MINUTE,
    },
    targets: ['billing'],
    action: 'delete',
    method: 'DELETE',
    path: '/invoices/42',
    query: '',
    queryKeys: [],
    decisionId: 'dec_1',
    policies: ['p'],
    approvalPolicies: ['p'],
    uses: 2,
    windowSeconds: 600,
    requestedAt: T0,
    expiresAt: T0 + 15 * MINUTE,
    ...overrides,
  };
}

const decision = (outcome: 'approved' | 'denied' = 'approved'): ApprovalDecision => ({
  outcome,
  by: { type: 'Human', id: 'alice@example.org', issuer: 'corp' },
  at: T0 + MINUTE,
  decisionId: 'dec_2',
});

/**
 * The behaviour every approval store must have (gateway/approvals/store.ts): run against Redis and memory, so
 * the single-process default decides exactly as replicas do.
 */
export function runApprovalStoreContract(name: string, factory: () => Promise<ApprovalStoreFixture>): void {
  describe(`the ${name} approval store keeps the approval store contract`, () => {
    let fixture: ApprovalStoreFixture;
    let store: ApprovalStore;
    beforeAll(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterAll(async () => fixture?.cleanup());

    const fresh = async (overrides: Partial<ApprovalSubject> = {}) => {
      const s = subject(overrides);
      expect(await store.records.put(s, 'key-1', 120 * MINUTE)).toBe(true);
      return s;
    };

    it('writes an approval once, pending, and reads it back', async () => {
      const s = await fresh();
      expect(await store.records.put(s, 'key-1', MINUTE)).toBe(false);
      expect(await store.records.get(s.id)).toEqual({ subject: s, state: 'pending' });
      expect(await store.records.get(newApprovalId())).toBeNull();
    });

    it('claims for one decider, re-entrantly; another waits; the written decision is "done" for its own decider', async () => {
      const { id } = await fresh();
      const now = T0 + MINUTE;
      expect(await store.transitions.claim(id, 'alice:approved', now, now + 30_000)).toBe('claimed');
      expect(await store.transitions.claim(id, 'alice:approved', now, now + 30_000)).toBe('claimed');
      expect(await store.transitions.claim(id, 'bob:denied', now, now + 30_000)).toBe('busy');
      expect(await store.transitions.consume(id, 'key-1', now)).toBe('pending');
      expect(await store.transitions.commit(id, 'bob:denied', decision('denied'), undefined, MINUTE)).toBe(false);
      const grant = { uses: 2, validUntil: now + 10 * MINUTE };
      expect(await store.transitions.commit(id, 'alice:approved', decision(), grant, 120 * MINUTE)).toBe(true);
      // A retried commit (its answer lost) is a success, not a second decision.
      expect(await store.transitions.commit(id, 'alice:approved', decision(), grant, 120 * MINUTE)).toBe(true);
      expect(await store.transitions.claim(id, 'alice:approved', now, now + 30_000)).toBe('done');
      expect(await store.transitions.claim(id, 'bob:denied', now, now + 30_000)).toBe('approved');
      expect(await store.records.get(id)).toMatchObject({ state: 'approved', decision: decision(), usesLeft: 2 });
    });

    it('makes a lapsed or released claim pending again', async () => {
      const { id } = await fresh();
      const now = T0 + MINUTE;
      await store.transitions.claim(id, 'alice:approved', now, now + 1_000);
      expect(await store.transitions.claim(id, 'bob:approved', now + 2_000, now + 30_000)).toBe('claimed');
      await store.transitions.unclaim(id, 'bob:approved');
      expect((await store.records.get(id))?.state).toBe('pending');
    });

    it('lets a grant cover exactly its request, its count and its window', async () => {
      const { id } = await fresh();
      const now = T0 + MINUTE;
      await store.transitions.claim(id, 'alice:approved', now, now + 30_000);
      await store.transitions.commit(
        id,
        'alice:approved',
        decision(),
        { uses: 2, validUntil: now + MINUTE },
        120 * MINUTE,
      );
      expect(await store.transitions.consume(id, 'another-key', now)).toBe('mismatch');
      expect(await store.transitions.consume(id, 'key-1', now)).toBe('ok');
      expect(await store.transitions.consume(id, 'key-1', now + MINUTE)).toBe('lapsed');
      expect(await store.transitions.consume(id, 'key-1', now)).toBe('ok');
      expect(await store.transitions.consume(id, 'key-1', now)).toBe('spent');
    });

    it('says denied for a denied approval and missing for an unknown one', async () => {
      const { id } = await fresh();
      await store.transitions.claim(id, 'bob:denied', T0, T0 + 30_000);
      await store.transitions.commit(id, 'bob:denied', decision('denied'), undefined, MINUTE);
      expect(await store.transitions.consume(id, 'key-1', T0)).toBe('denied');
      expect(await store.transitions.consume(newApprovalId(), 'key-1', T0)).toBe('missing');
    });

    it('expires only what is overdue, once; a late claim finds it expired and says it expired it', async () => {
      const a = await fresh();
      expect(await store.transitions.settle(a.id, 'expired', a.expiresAt - 1)).toBe(false);
      expect(await store.transitions.consume(a.id, 'key-1', a.expiresAt)).toBe('overdue');
      expect(await store.transitions.settle(a.id, 'expired', a.expiresAt)).toBe(true);
      expect(await store.transitions.settle(a.id, 'expired', a.expiresAt)).toBe(false);
      expect(await store.transitions.consume(a.id, 'key-1', a.expiresAt)).toBe('expired');
      const b = await fresh();
      expect(await store.transitions.claim(b.id, 'alice:approved', b.expiresAt, b.expiresAt + 1)).toBe('expired!');
      expect(await store.transitions.claim(b.id, 'alice:approved', b.expiresAt, b.expiresAt + 1)).toBe('expired');
    });

    it('cancels a pending approval, even one being decided, and nothing settled', async () => {
      const a = await fresh();
      await store.transitions.claim(a.id, 'alice:approved', T0, T0 + 30_000);
      expect(await store.transitions.settle(a.id, 'cancelled', T0)).toBe(true);
      expect(await store.transitions.commit(a.id, 'alice:approved', decision(), undefined, MINUTE)).toBe(false);
      expect((await store.records.get(a.id))?.state).toBe('cancelled');
      const b = await fresh();
      await store.transitions.claim(b.id, 'alice:approved', T0, T0 + 30_000);
      await store.transitions.commit(b.id, 'alice:approved', decision(), undefined, MINUTE);
      expect(await store.transitions.settle(b.id, 'cancelled', T0)).toBe(false);
    });

    it('binds a task field only from the value it expects', async () => {
      const task = `tsk_${newApprovalId().slice(4)}`;
      expect(await store.tasks.bind(task, 'r:k', null, 'apr_1', MINUTE)).toBe(true);
      expect(await store.tasks.bind(task, 'r:k', null, 'apr_2', MINUTE)).toBe(false);
      expect(await store.tasks.bind(task, 'r:k', 'apr_1', 'apr_3', MINUTE)).toBe(true);
      expect(await store.tasks.bind(task, 'task', null, 'apr_4', MINUTE)).toBe(true);
      expect(await store.tasks.bindings(task)).toEqual({ 'r:k': 'apr_3', task: 'apr_4' });
    });

    it('bounds what one requester has pending, not counting what expired or was released', async () => {
      const who = newApprovalId();
      expect(await store.requesters.reserve(who, 'a', T0 + MINUTE, T0, 2)).toBe(true);
      expect(await store.requesters.reserve(who, 'b', T0 + 2 * MINUTE, T0, 2)).toBe(true);
      expect(await store.requesters.reserve(who, 'c', T0 + MINUTE, T0, 2)).toBe(false);
      await store.requesters.release(who, 'b');
      expect(await store.requesters.reserve(who, 'c', T0 + MINUTE, T0, 2)).toBe(true);
      expect(await store.requesters.reserve(who, 'd', T0 + 3 * MINUTE, T0 + MINUTE, 2)).toBe(true);
    });

    it('lists pending approvals by expiry and counts those still live', async () => {
      const [x, y] = [newApprovalId(), newApprovalId()];
      await store.pending.add(y, T0 + 2 * MINUTE);
      await store.pending.add(x, T0 + MINUTE);
      const listed = await store.pending.range(T0, T0 + 2 * MINUTE, 1_000);
      expect(listed.filter((id) => id === x || id === y)).toEqual([x, y]);
      expect(await store.pending.range(T0 + MINUTE + 1, T0 + 2 * MINUTE, 1_000)).toContain(y);
      const before = await store.pending.count(T0 + MINUTE + 1);
      await store.pending.remove(y);
      expect(await store.pending.count(T0 + MINUTE + 1)).toBe(before - 1);
    });
  });
}
