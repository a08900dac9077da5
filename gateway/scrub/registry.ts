import type { Credential } from '../../adapters/types.js';
import type { Secret } from '../secret.js';
import { innermostValues } from './forms.js';
import { NeedleIndex } from './index.js';

export interface SecretRegistryOptions {
  readonly now: () => number;
  /** How long a value derived for one request (an HMAC signature) stays a needle after it was sent. */
  readonly derivedTtlMs?: number;
  /** Most derived values kept at once; the oldest go first. */
  readonly maxDerived?: number;
}

const NOTHING_PINNED = (): void => {};

/**
 * Every secret this replica holds, scrubbed from every response in one pass: config secrets (every target's,
 * and Escrow's own keys), the credential of every lease in the lease cache, the credential of every exchange in
 * flight (pinned, so an eviction cannot unmask the response that is using it), and values adapters derive per
 * request (HMAC signatures), kept `derivedTtlMs` after use. Owned by the gateway object; one NeedleIndex inside.
 */
export class SecretRegistry {
  readonly index = new NeedleIndex();
  readonly #now: () => number;
  readonly #derivedTtlMs: number;
  readonly #maxDerived: number;
  readonly #groups = new Map<string, Set<string>>();
  /** Each credential's needles (its wire forms' innermost values); a credential object never changes. */
  readonly #credentialValues = new WeakMap<Secret<Credential>, readonly string[]>();
  /** Derived values, oldest first: (expiry, value). A value sent twice is in here twice (two references). */
  #derived: { at: number; value: string }[] = [];
  #derivedHead = 0;

  constructor(options: SecretRegistryOptions) {
    this.#now = options.now;
    this.#derivedTtlMs = options.derivedTtlMs ?? 5 * 60_000;
    this.#maxDerived = options.maxDerived ?? 10_000;
  }

  /** Add one static value to a group (`keys`: Escrow's own; `targets`: what the targets' config resolves). */
  addStatic(group: string, value: string): void {
    const values = this.#groups.get(group) ?? new Set<string>();
    this.#groups.set(group, values);
    if (values.has(value)) return;
    values.add(value);
    this.index.add(value);
  }

  /** Replace a group of static values (a config reload). */
  setStatic(group: string, values: Iterable<string>): void {
    const old = this.#groups.get(group) ?? new Set<string>();
    const next = new Set(values);
    for (const value of next) if (!old.has(value)) this.index.add(value);
    for (const value of old) if (!next.has(value)) this.index.remove(value);
    this.#groups.set(group, next);
  }

  /** A credential became known (a lease entered the cache). */
  addCredential(credential: Secret<Credential>): void {
    for (const value of this.#valuesOf(credential)) this.index.add(value);
  }

  /** A credential is no longer held (its lease left the cache: revoked, renewed, expired or evicted). */
  removeCredential(credential: Secret<Credential>): void {
    for (const value of this.#valuesOf(credential)) this.index.remove(value);
  }

  /** A credential's needles, worked out once per credential object (every request pins and unpins them). */
  #valuesOf(credential: Secret<Credential>): readonly string[] {
    let values = this.#credentialValues.get(credential);
    if (values === undefined) {
      values = innermostValues(credential.reveal().wireForms);
      this.#credentialValues.set(credential, values);
    }
    return values;
  }

  /** Hold `credential` for one exchange; call the returned function once the response is done. */
  pin(credential: Secret<Credential>): () => void {
    this.addCredential(credential);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.removeCredential(credential);
    };
  }

  /**
   * Values an adapter derived for one request (e.g. its HMAC signature): needles from now on, pinned until the
   * returned function is called, and kept after that for `derivedTtlMs` in case another response reflects them.
   */
  pinDerived(values: readonly string[]): () => void {
    this.#expire();
    if (values.length === 0) return NOTHING_PINNED;
    const kept = innermostValues(values);
    for (const value of kept) {
      this.index.add(value); // the pin
      this.index.add(value); // the memory, released by #expire
    }
    const at = this.#now() + this.#derivedTtlMs;
    for (const value of kept) this.#derived.push({ at, value });
    while (this.#derived.length - this.#derivedHead > this.#maxDerived) this.#forgetOldest();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const value of kept) this.index.remove(value);
    };
  }

  #expire(): void {
    const now = this.#now();
    while (this.#derivedHead < this.#derived.length && this.#derived[this.#derivedHead]!.at <= now) {
      this.#forgetOldest();
    }
  }

  #forgetOldest(): void {
    this.index.remove(this.#derived[this.#derivedHead++]!.value);
    // Compact now and then rather than shifting the array on every request.
    if (this.#derivedHead > 1024 && this.#derivedHead * 2 > this.#derived.length) {
      this.#derived = this.#derived.slice(this.#derivedHead);
      this.#derivedHead = 0;
    }
  }
}
