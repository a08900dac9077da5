import { LRUCache } from 'lru-cache';

/** Told of every value that enters or leaves a cache (the lease cache keeps the scrubber's needles with it). */
export interface CacheListener<V> {
  added(value: V): void;
  removed(value: V): void;
}

/** What a revocation notice names: everything, one task's entries, or one lease of a task. */
export type InvalidationScope =
  | { readonly kind: 'all' }
  | { readonly kind: 'task'; readonly taskId: string }
  /** `key`: the lease's cache key, `<taskId>:<target>`, as the notice names it. */
  | { readonly kind: 'lease'; readonly key: string };

/**
 * What the revoker asks of a service that caches tasks or leases: drop what a notice names, and stop trusting
 * the cache while notices may be missed. The revoker never reaches into the cache itself.
 */
export interface Invalidation {
  invalidate(scope: InvalidationScope): void;
  setTrusted(trusted: boolean): void;
}

/** One cached value and the epoch millisecond at which it dies. */
interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

/**
 * A bounded in-process cache whose entries die at their own expiry, and which is trusted only while the
 * cross-replica revocation subscription is healthy: while it is down, `get` misses and callers go to the
 * store, so a revocation published meanwhile cannot be missed.
 *
 * Every invalidation bumps `generation`. A caller that reads the store takes the generation first and hands
 * it to `set`: a value read before an invalidation that arrived during the read is not cached (otherwise a
 * revoked task could be cached again right after its revocation notice was handled).
 *
 * Bounding and eviction (least recently used) are `lru-cache`'s; this class adds only the trust and generation
 * rules and the expiry. Expiry is checked here against the injected clock rather than with lru-cache's own TTL,
 * which reads `performance.now()` (or a `perf` clock, debounced by a timer), counts an entry stale only once
 * strictly past its TTL, and treats an entry started at time 0 as immortal.
 */
export class ExpiringCache<V> {
  readonly #entries: LRUCache<string, Entry<V>> | undefined;
  readonly #now: () => number;
  readonly #listener: CacheListener<V> | undefined;
  #trusted = true;
  #generation = 0;

  constructor(max: number, now: () => number = Date.now, listener?: CacheListener<V>) {
    this.#now = now;
    this.#listener = listener;
    // lru-cache refuses max 0; a cache of size 0 holds nothing.
    if (max > 0) {
      const dispose = listener ? (entry: Entry<V>) => listener.removed(entry.value) : undefined;
      this.#entries = new LRUCache<string, Entry<V>>(dispose ? { max, dispose } : { max });
    }
  }

  get(key: string): V | undefined {
    if (!this.#trusted || !this.#entries) return undefined;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
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
    if (!this.#trusted || !this.#entries || expiresAt <= this.#now()) return;
    if (readAt !== undefined && readAt !== this.#generation) return;
    // Added before the old one leaves (lru-cache disposes a replaced or evicted entry inside `set`): a listener
    // counting references never sees a shared value drop to zero.
    this.#listener?.added(value);
    this.#entries.set(key, { value, expiresAt });
  }

  delete(key: string): void {
    this.#generation++;
    this.#entries?.delete(key);
  }

  /** Delete every key that starts with `prefix` (all of one task's leases). */
  deletePrefix(prefix: string): void {
    this.#generation++;
    if (!this.#entries) return;
    for (const key of [...this.#entries.keys()]) if (key.startsWith(prefix)) this.#entries.delete(key);
  }

  /** Drop everything (a `*` revocation notice). */
  clear(): void {
    this.#generation++;
    this.#entries?.clear();
  }

  /** While untrusted, the cache is emptied and stays empty. */
  setTrusted(trusted: boolean): void {
    this.#generation++;
    this.#trusted = trusted;
    if (!trusted) this.clear();
  }

  get trusted(): boolean {
    return this.#trusted;
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }
}
