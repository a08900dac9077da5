import { inspect } from 'node:util';

const REDACTED = '<redacted>';

/**
 * A secret value that cannot be printed by accident: `String()`, template literals, `JSON.stringify` and
 * `util.inspect` (so `console.log`, pino and error messages) all give `<redacted>`. The raw value comes out only
 * through `reveal()`, called where a credential is injected into an upstream request (or revoked there), where
 * the scrubber builds its needles, and where a lease is sealed into its encrypted envelope.
 *
 * Escrow holds every lease's credential in one (`LeaseRecord.credential`): the lease cache, admissions, live
 * connections and revocation jobs carry the wrapper, never the strings.
 */
export class Secret<T = string> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  /** The raw value. Call only where it is injected, revoked, scrubbed for or sealed (see above). */
  reveal(): T {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
