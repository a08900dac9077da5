import { hash } from 'node:crypto';

/**
 * A bounded LRU of verified identities, so a token is verified once and not on every request. Keys are
 * SHA-256 digests (the token itself is never held as a key), and every entry dies at its own deadline, which
 * the caller sets no later than the token's `exp`.
 */
export class VerifiedCache<T> {
  readonly #entries = new Map<string, { value: T; deadlineMs: number }>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(maxEntries: number, now: () => number) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  /** Digest of the parts that decide a verification (the token and where it was found). */
  static key(...parts: readonly string[]): string {
    return hash('sha256', parts.join('\n'), 'base64url'); // one-shot: no Hash object per request
  }

  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.deadlineMs <= this.#now()) return undefined;
    this.#entries.set(key, entry); // most recently used goes last
    return entry.value;
  }

  set(key: string, value: T, deadlineMs: number): void {
    if (this.#maxEntries === 0 || deadlineMs <= this.#now()) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, deadlineMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}
