import { type PrincipalRef, principalRef } from './domain.js';
import { EscrowError } from './errors.js';

/** Whatever holds a request's slot: the response, the upgraded socket, the postgres client's socket. */
export interface SlotOwner {
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
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Take one slot for `principal`, or refuse with 429 when `max` are already in flight. */
  admit(principal: PrincipalRef, owner: SlotOwner): void {
    // The agent may already be gone (its 'close' will not fire again): nothing to hold a slot for.
    if (owner.closed === true || owner.destroyed === true) {
      throw new EscrowError('bad_request', 'the client went away');
    }
    const ref = principalRef(principal);
    const key = `${ref.type}\u0000${ref.issuer}\u0000${ref.id}`;
    const current = this.#counts.get(key) ?? 0;
    if (current >= this.#max) {
      throw new EscrowError('too_many_requests', 'too many concurrent requests for this workload');
    }
    this.#counts.set(key, current + 1);
    owner.once('close', () => {
      const left = (this.#counts.get(key) ?? 1) - 1;
      if (left <= 0) this.#counts.delete(key);
      else this.#counts.set(key, left);
    });
  }

  /** Requests in flight for every principal (for tests and debugging; never exported as a metric label). */
  get total(): number {
    let total = 0;
    for (const n of this.#counts.values()) total += n;
    return total;
  }
}
