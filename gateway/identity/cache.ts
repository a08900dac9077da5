import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * A bounded LRU of verified identities (`lru-cache`), so a token is verified once and not on every request. Keys
 * are SHA-256 digests (the token itself is never held as a key), and every entry dies at its own deadline, which
 * the caller sets no later than the token's `exp`. The deadline is checked here against the injected clock (see
 * gateway/cache.ts for why not with lru-cache's TTL).
 */
export class VerifiedCache<T> {
  readonly #entries: LRUCache<string, { value: T; deadlineMs: number }> | undefined;
  readonly #now: () => number;

  constructor(maxEntries: number, now: () => number) {
    // lru-cache refuses max 0; a cache of size 0 holds nothing.
    this.#entries = maxEntries > 0 ? new LRUCache({ max: maxEntries }) : undefined;
    this.#now = now;
  }

  /** Digest of the parts that decide a verification (the token and where it was found). */
  static key(...parts: readonly string[]): string {
    return hash('sha256', parts.join('\n'), 'base64url'); // one-shot: no Hash object per request
  }

  get(key: string): T | undefined {
    const entry = this.#entries?.get(key);
    if (entry === undefined) return undefined;
    if (entry.deadlineMs <= this.#now()) {
      this.#entries?.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: T, deadlineMs: number): void {
    if (deadlineMs <= this.#now()) return;
    this.#entries?.set(key, { value, deadlineMs });
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }

  clear(): void {
    this.#entries?.clear();
  }
}
