import { type PrincipalRef, principalRef } from './domain.js';
import { EscrowError } from './errors.js';

/** How many principals the counts hold before those with nothing in flight are dropped (at least). */
const FORGET_IDLE_AT = 10_000;

/** Whatever holds a request's slot: the response, the upgraded socket, the postgres client's socket. */
export interface SlotOwner {
  on(event: 'close', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  readonly closed?: boolean;
  readonly destroyed?: boolean;
}

/**
 * Requests in flight per principal, owned by one gateway (gateway/app.ts builds it; a reload keeps it). A slot is
 * taken at admission and given back once, when its owner closes.
 */
export class InFlightPerPrincipal {
  readonly #counts = new Map<string, number>();
  readonly #keys = new WeakMap<PrincipalRef, string>();
  readonly #max: number;
  /** The size at which the next sweep of idle principals runs (twice what the last one left: amortised O(1)). */
  #forgetAt = FORGET_IDLE_AT;

  constructor(max: number) {
    this.#max = max;
  }

  /** Take one slot for `principal`, or refuse with 429 when `max` are already in flight; given back when `owner` closes. */
  admit(principal: PrincipalRef, owner: SlotOwner): void {
    const slot = this.take(principal, owner);
    owner.once('close', () => this.leave(slot));
  }

  /**
   * `admit` for a caller that listens to `owner`'s close itself (the pipeline: one listener per exchange): returns
   * the slot, to give back with `leave` exactly once, when `owner` closes.
   */
  take(principal: PrincipalRef, owner: SlotOwner): string {
    // The agent may already be gone (its 'close' will not fire again): nothing to hold a slot for.
    if (owner.closed === true || owner.destroyed === true) {
      throw new EscrowError('bad_request', 'the client went away');
    }
    const key = this.#keyOf(principal);
    const current = this.#counts.get(key) ?? 0;
    if (current >= this.#max) {
      throw new EscrowError('too_many_requests', 'too many concurrent requests for this workload');
    }
    if (current === 0 && this.#counts.size >= this.#forgetAt) this.#forgetIdle();
    this.#counts.set(key, current + 1);
    return key;
  }

  /**
   * A principal whose last request ended keeps its entry at 0, instead of being deleted and added again on its next
   * request: a Map that churns leaves obsolete hash tables behind for the scavenger (gateway/connections.ts, Group).
   */
  leave(slot: string): void {
    const left = (this.#counts.get(slot) ?? 1) - 1;
    this.#counts.set(slot, Math.max(0, left));
  }

  /** Principals with nothing in flight are forgotten once there are many entries; one in flight never is. */
  #forgetIdle(): void {
    for (const [key, n] of this.#counts) if (n === 0) this.#counts.delete(key);
    this.#forgetAt = Math.max(FORGET_IDLE_AT, 2 * this.#counts.size);
  }

  /** Principals counted (in flight or recently so; for tests). */
  get principals(): number {
    return this.#counts.size;
  }

  /** Type, issuer and subject (a principal object is cached with its identity, so is its key). */
  #keyOf(principal: PrincipalRef): string {
    let key = this.#keys.get(principal);
    if (key === undefined) {
      const ref = principalRef(principal);
      key = `${ref.type}\u0000${ref.issuer}\u0000${ref.id}`;
      this.#keys.set(principal, key);
    }
    return key;
  }

  /** Requests in flight for every principal (for tests and debugging; never exported as a metric label). */
  get total(): number {
    let total = 0;
    for (const n of this.#counts.values()) total += n;
    return total;
  }
}
