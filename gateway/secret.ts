import { inspect } from 'node:util';

const REDACTED = '<redacted>';

/**
 * A secret value that cannot be printed by accident: `toString`, `toJSON` and `util.inspect` all give
 * `<redacted>`. The raw value comes out only through `reveal()`, called where a credential is injected.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The raw value. Call only where it is injected into an upstream request or fingerprinted. */
  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
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
