import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../gateway/store/types.js';

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

    it('writes a lease only if absent, replaces it on renewal and expires it', async () => {
      const task = id('task');
      expect(await store.leases.putIfAbsent(task, 'echo', 'first', 10_000)).toBe(true);
      expect(await store.leases.putIfAbsent(task, 'echo', 'second', 10_000)).toBe(false);
      expect(await store.leases.get(task, 'echo')).toBe('first');
      await store.leases.replace(task, 'echo', 'renewed', 10_000);
      expect(await store.leases.get(task, 'echo')).toBe('renewed');
      expect(await store.leases.get(task, 'other')).toBeNull();
      await store.leases.replace(task, 'brief', 'x', 150);
      await sleep(250);
      expect(await store.leases.get(task, 'brief')).toBeNull();
      expect(await store.leases.putIfAbsent(task, 'brief', 'again', 10_000)).toBe(true);
    });

    it('deletes every lease of a task at once and returns target and value of each', async () => {
      const task = id('task');
      const other = id('task');
      await store.leases.putIfAbsent(task, 'echo', 'v-echo', 10_000);
      await store.leases.putIfAbsent(task, 'ledger', 'v-ledger', 10_000);
      await store.leases.putIfAbsent(other, 'echo', 'v-other', 10_000);
      const deleted = await store.leases.deleteForTask(task);
      expect([...deleted].sort((x, y) => x.target.localeCompare(y.target))).toEqual([
        { target: 'echo', value: 'v-echo' },
        { target: 'ledger', value: 'v-ledger' },
      ]);
      expect(await store.leases.get(task, 'echo')).toBeNull();
      expect(await store.leases.deleteForTask(task)).toEqual([]);
      expect(await store.leases.get(other, 'echo')).toBe('v-other');
    });

    it('gives a lock to one holder at a time and lets only that holder release it', async () => {
      const lock = id('lock');
      const token = await store.locks.acquire(lock, 10_000);
      expect(token).toEqual(expect.any(String));
      expect(await store.locks.acquire(lock, 10_000)).toBeNull();
      await store.locks.release(lock, 'not-the-owner');
      expect(await store.locks.acquire(lock, 10_000)).toBeNull();
      await store.locks.release(lock, token!);
      const next = await store.locks.acquire(lock, 150);
      expect(next).not.toBeNull();
      expect(next).not.toBe(token);
      await sleep(250);
      expect(await store.locks.acquire(lock, 10_000)).not.toBeNull();
    });

    it('indexes tasks by principal and by expiry', async () => {
      const [alice, bob] = [id('alice'), id('bob')];
      const now = Date.now();
      const [t1, t2, t3, t4] = [id('t'), id('t'), id('t'), id('t')];
      await store.index.add(t1, alice, now + 1_000);
      await store.index.add(t2, alice, now + 3_000);
      await store.index.add(t3, bob, now + 2_000);
      await store.index.add(t4, alice, now - 1_000);
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
