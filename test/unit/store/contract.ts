import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../gateway/store/types.js';

/** A fresh store for one suite, and how to throw it (and its keys) away. */
export interface StoreFixture {
  readonly store: Store;
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let unique = 0;
const id = (label: string) => `${label}_${process.pid}_${++unique}`;

/**
 * The behaviour every Store must have (gateway/store/types.ts). Run against the Redis store and the memory
 * store, so the single-process default behaves like production.
 */
export function runStoreContract(name: string, factory: () => Promise<StoreFixture>): void {
  describe(`${name} store keeps the store contract`, () => {
    let fixture: StoreFixture;
    let store: Store;
    beforeAll(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterAll(async () => fixture?.cleanup());

    it('stores, reads and deletes a task record, returning its children', async () => {
      const parent = id('parent');
      const [a, b] = [id('child'), id('child')];
      await store.tasks.put(parent, 'parent-record', 10_000);
      await store.tasks.put(a, 'a-record', 5_000, parent);
      await store.tasks.put(b, 'b-record', 5_000, parent);
      expect(await store.tasks.get(parent)).toBe('parent-record');
      expect(await store.tasks.get(id('unknown'))).toBeNull();
      expect([...(await store.tasks.delete(parent))].sort()).toEqual([a, b].sort());
      expect(await store.tasks.get(parent)).toBeNull();
      expect(await store.tasks.get(a)).toBe('a-record');
      expect(await store.tasks.delete(parent)).toEqual([]);
    });

    it('forgets a task record after its ttl', async () => {
      const task = id('short');
      await store.tasks.put(task, 'record', 150);
      expect(await store.tasks.get(task)).toBe('record');
      await sleep(250);
      expect(await store.tasks.get(task)).toBeNull();
    });

    it('closes a task with a tombstone first, idempotently, keeping record and tombstone, returning its children', async () => {
      const parent = id('parent');
      const child = id('child');
      await store.tasks.put(parent, 'parent-record', 10_000);
      await store.tasks.put(child, 'child-record', 5_000, parent);
      expect(await store.tasks.read(parent)).toEqual({ record: 'parent-record', tombstone: null });
      const first = await store.tasks.close(parent, 'closed-1', 60_000);
      expect(first).toEqual({ entry: { record: 'parent-record', tombstone: 'closed-1' }, children: [child] });
      // A retry (or a close whose answer was lost, sent again) keeps the first tombstone.
      const again = await store.tasks.close(parent, 'closed-2', 60_000);
      expect(again).toEqual({ entry: { record: 'parent-record', tombstone: 'closed-1' }, children: [child] });
      expect(await store.tasks.close(id('unknown'), 'x', 60_000)).toBeNull();
      // An ambient task's tombstone is a fence: each close replaces it.
      expect((await store.tasks.close(parent, 'fence-2', 60_000, true))?.entry.tombstone).toBe('fence-2');
    });

    it('keeps a tombstone at least as long as the record, so a closed task never reads live again', async () => {
      const task = id('task');
      await store.tasks.put(task, 'record', 400);
      await store.tasks.close(task, 'closed', 150);
      await sleep(250);
      expect(await store.tasks.read(task)).toEqual({ record: 'record', tombstone: 'closed' });
      await sleep(300);
      expect(await store.tasks.read(task)).toBeNull();
    });

    it('writes a lease only if absent and only while the task has no tombstone (or the fence seen)', async () => {
      const task = id('task');
      await store.tasks.put(task, 'record', 10_000);
      expect(await store.leases.putIfAbsent(task, 'echo', 'first', 10_000)).toBe('written');
      expect(await store.leases.putIfAbsent(task, 'echo', 'second', 10_000)).toBe('exists');
      expect(await store.leases.get(task, 'echo')).toBe('first');
      expect(await store.leases.replace(task, 'echo', 'renewed', 10_000)).toBe('written');
      expect(await store.leases.get(task, 'echo')).toBe('renewed');
      await store.leases.replace(task, 'brief', 'x', 150);
      await sleep(250);
      expect(await store.leases.get(task, 'brief')).toBeNull();
      await store.tasks.close(task, 'closed', 60_000);
      expect(await store.leases.putIfAbsent(task, 'brief', 'after-close', 10_000)).toBe('closed');
      expect(await store.leases.replace(task, 'echo', 'after-close', 10_000)).toBe('closed');
      expect(await store.leases.putIfAbsent(task, 'brief', 'fenced', 10_000, 'closed')).toBe('written');
      expect(await store.leases.get(task, 'echo')).toBe('renewed');
    });

    it('takes a task’s leases once per claim: a retry of the same claim gets them back, another claim does not', async () => {
      const task = id('task');
      const other = id('task');
      await store.leases.putIfAbsent(task, 'echo', 'v-echo', 10_000);
      await store.leases.putIfAbsent(task, 'ledger', 'v-ledger', 10_000);
      await store.leases.putIfAbsent(other, 'echo', 'v-other', 10_000);
      const now = Date.now();
      const take = (claim: string, nowMs = now) =>
        store.leases.take(task, { claim, nowMs, staleAfterMs: 5_000, retainMs: 60_000 });
      const taken = await take('job-a');
      const byTarget = (list: readonly { target: string; value: string }[]) =>
        list.map(({ target, value }) => ({ target, value })).sort((x, y) => x.target.localeCompare(y.target));
      expect(byTarget(taken)).toEqual([
        { target: 'echo', value: 'v-echo' },
        { target: 'ledger', value: 'v-ledger' },
      ]);
      expect(await store.leases.get(task, 'echo')).toBeNull();
      expect(byTarget(await take('job-a'))).toEqual(byTarget(taken)); // its answer was lost: asked again
      expect(await take('job-b')).toEqual([]); // another replica's close of the same task
      expect(byTarget(await take('job-b', now + 5_000))).toEqual(byTarget(taken)); // job-a died: stale
      expect(await store.leases.settle(task, [taken[0]!.ref])).toBe(1);
      expect(await store.leases.settle(task, [taken[1]!.ref])).toBe(0);
      expect(await take('job-c', now + 60_000)).toEqual([]);
      expect(await store.leases.get(other, 'echo')).toBe('v-other');
    });

    it('gives a lock to one token at a time and lets only that token release it', async () => {
      const lock = id('lock');
      expect(await store.locks.acquire(lock, 'token-1', 10_000)).toBe(true);
      expect(await store.locks.acquire(lock, 'token-2', 10_000)).toBe(false);
      await store.locks.release(lock, 'token-2');
      expect(await store.locks.acquire(lock, 'token-2', 10_000)).toBe(false);
      await store.locks.release(lock, 'token-1');
      expect(await store.locks.acquire(lock, 'token-3', 150)).toBe(true);
      await sleep(250);
      expect(await store.locks.acquire(lock, 'token-4', 10_000)).toBe(true);
    });

    it('reserves open-task slots atomically: exactly `max` of many concurrent reservations, retries idempotent', async () => {
      const alice = id('alice');
      const now = Date.now();
      await store.index.reserve(id('expired'), alice, now - 1, now - 1_000, 5);
      const ids = Array.from({ length: 40 }, () => id('t'));
      const granted = await Promise.all(ids.map((t) => store.index.reserve(t, alice, now + 60_000, now, 5)));
      expect(granted.filter(Boolean)).toHaveLength(5);
      const first = ids[granted.indexOf(true)]!;
      expect(await store.index.reserve(first, alice, now + 60_000, now, 5)).toBe(true);
      expect(await store.index.byPrincipal(alice, now)).toHaveLength(5);
      await store.index.remove(first, alice);
      expect(await store.index.reserve(id('t'), alice, now + 60_000, now, 5)).toBe(true);
    });

    it('keeps closes in an outbox until done, by due time', async () => {
      const [a, b] = [id('close'), id('close')];
      const now = Date.now();
      await store.closing.schedule(a, now - 10);
      await store.closing.schedule(b, now + 60_000);
      const due = await store.closing.due(now, 1_000);
      expect(due).toContain(a);
      expect(due).not.toContain(b);
      await store.closing.schedule(a, now + 60_000);
      expect(await store.closing.due(now, 1_000)).not.toContain(a);
      await store.closing.done(b);
      expect(await store.closing.due(now + 120_000, 1_000)).toContain(a);
      expect(await store.closing.due(now + 120_000, 1_000)).not.toContain(b);
      await store.closing.done(a);
    });

    it('indexes tasks by principal and by expiry', async () => {
      const [alice, bob] = [id('alice'), id('bob')];
      const now = Date.now();
      const [t1, t2, t3, t4] = [id('t'), id('t'), id('t'), id('t')];
      const open = async (t: string, who: string, expiresAt: number) => {
        await store.index.reserve(t, who, expiresAt, expiresAt - 10_000, 100);
        await store.index.add(t, who, expiresAt);
      };
      await open(t1, alice, now + 1_000);
      await open(t2, alice, now + 3_000);
      await open(t3, bob, now + 2_000);
      await open(t4, alice, now - 1_000);
      expect([...(await store.index.byPrincipal(alice, now))].sort()).toEqual([t1, t2].sort());
      expect(await store.index.byPrincipal(bob, now)).toEqual([t3]);
      const mine = new Set([t1, t2, t3, t4]);
      const due = (await store.index.range(now - 5_000, now + 2_500, 100)).filter((m) => mine.has(m.taskId));
      expect(due).toEqual([
        { taskId: t4, principalHash: alice },
        { taskId: t1, principalHash: alice },
        { taskId: t3, principalHash: bob },
      ]);
      const all = await store.index.range(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 100_000);
      expect(all.filter((m) => mine.has(m.taskId))).toHaveLength(4);
      expect(await store.index.range(now - 5_000, now + 5_000, 1)).toHaveLength(1);
      await store.index.remove(t1, alice);
      expect(await store.index.byPrincipal(alice, now)).toEqual([t2]);
      const after = await store.index.range(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 100_000);
      expect(after.some((m) => m.taskId === t1)).toBe(false);
    });

    it('delivers a published revocation notice to the subscriber and reports it healthy', async () => {
      const seen: string[] = [];
      const states: boolean[] = [];
      await store.revocations.subscribe(
        (m) => seen.push(m),
        (s) => states.push(s),
      );
      await expect.poll(() => states.at(-1)).toBe(true);
      const notice = `task:${id('revoked')}`;
      await store.revocations.publish(notice);
      await expect.poll(() => seen).toContain(notice);
    });

    it('appends a batch in order, and skips the seqs of a retried batch that had landed', async () => {
      const writer = id('writer');
      const before = (await store.events.readAll()).length;
      const lines = [0, 1, 2, 3].map((i) => `${writer}:${i}`);
      await store.events.append({ writer, firstSeq: 0, lines: lines.slice(0, 3) });
      // The reply to the first attempt was lost: the retry sends it again, with one more line.
      await store.events.append({ writer, firstSeq: 0, lines });
      const all = await store.events.readAll();
      expect(all.slice(before)).toEqual(lines);
      const { entries } = await store.events.read();
      const mine = entries.filter((entry) => entry.line.startsWith(writer));
      expect(mine[0]?.prevId).toBe('0');
      expect(mine.slice(1).map((entry) => entry.prevId)).toEqual(mine.slice(0, -1).map((entry) => entry.id));
    });

    it('answers a ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
