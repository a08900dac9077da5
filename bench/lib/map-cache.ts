import type { CacheListener } from '../../gateway/cache.js';

/*
 * The lease/task cache as it was before it sat on lru-cache (a Map in write order), kept only as the baseline of
 * bench/cache.ts.
 */

/**
 * A bounded in-process cache whose entries die at their own expiry, and which is trusted only while the
 * cross-replica revocation subscription is healthy: while it is down, `get` misses and callers go to the
 * store, so a revocation published meanwhile cannot be missed.
 *
 * Every invalidation bumps `generation`. A caller that reads the store takes the generation first and hands
 * it to `set`: a value read before an invalidation that arrived during the read is not cached (otherwise a
 * revoked task could be cached again right after its revocation notice was handled).
 */
export class MapExpiringCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #max: number;
  readonly #now: () => number;
  readonly #listener: CacheListener<V> | undefined;
  #trusted = true;
  #generation = 0;

  constructor(max: number, now: () => number = Date.now, listener?: CacheListener<V>) {
    this.#max = max;
    this.#now = now;
    this.#listener = listener;
  }

  get(key: string): V | undefined {
    if (!this.#trusted) return undefined;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#drop(key);
      return undefined;
    }
    return entry.value;
  }

  /** Increases with every invalidation; pass the value seen before a store read to `set`. */
  get generation(): number {
    return this.#generation;
  }

  /** Cache `value` until `expiresAt`, unless untrusted, already expired, or invalidated since `readAt`. */
  set(key: string, value: V, expiresAt: number, readAt?: number): void {
    if (!this.#trusted || this.#max === 0 || expiresAt <= this.#now()) return;
    if (readAt !== undefined && readAt !== this.#generation) return;
    // Added before the old one leaves: a listener counting references never sees a shared value drop to zero.
    this.#listener?.added(value);
    this.#drop(key);
    if (this.#entries.size >= this.#max) {
      // Map iteration is insertion order: the first key is the least recently written.
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#drop(oldest);
    }
    this.#entries.set(key, { value, expiresAt });
  }

  delete(key: string): void {
    this.#generation++;
    this.#drop(key);
  }

  /** Delete every key that starts with `prefix` (all of one task's leases). */
  deletePrefix(prefix: string): void {
    this.#generation++;
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#drop(key);
  }

  /** Drop everything (a `*` revocation notice). */
  clear(): void {
    this.#generation++;
    for (const key of [...this.#entries.keys()]) this.#drop(key);
  }

  /** While untrusted, the cache is emptied and stays empty. */
  setTrusted(trusted: boolean): void {
    this.#generation++;
    this.#trusted = trusted;
    if (!trusted) this.clear();
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#listener?.removed(entry.value);
  }

  get trusted(): boolean {
    return this.#trusted;
  }

  get size(): number {
    return this.#entries.size;
  }
}
