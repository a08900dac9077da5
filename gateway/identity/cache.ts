import { hash } from 'node:crypto';
import { ExpiringCache } from '../cache.js';

/**
 * A bounded LRU of verified identities, so a token is verified once and not on every request: the gateway's
 * ExpiringCache (every entry dies at its own deadline, which the caller sets no later than the token's `exp`),
 * keyed by SHA-256 digests (the token itself is never held as a key).
 */
export class VerifiedCache<T> extends ExpiringCache<T> {
  constructor(maxEntries: number, now: () => number) {
    super(maxEntries, now);
  }

  /** Digest of the parts that decide a verification (the token and where it was found). */
  static key(...parts: readonly string[]): string {
    return hash('sha256', parts.join('\n'), 'base64url'); // one-shot: no Hash object per request
  }
}
