import { eventHash, GENESIS, type Json } from './canonical.js';
import { refuseTokens } from './redact.js';
import type { AuditEventInput } from './types.js';

export interface Sealer {
  /** The event as one JSON line, with `time`, `writer`, `seq`, `prev` and `hash`. */
  seal(input: AuditEventInput): string;
}

export interface SealerOptions {
  readonly writerId: string;
  readonly now: () => number;
  readonly onRefusedField: (field: string, event: string) => void;
}

/** Plain JSON of the input (`Secret` prints `<redacted>`, `undefined` goes); never throws. */
function toPlain(input: AuditEventInput): { readonly [key: string]: Json } {
  try {
    const plain: unknown = JSON.parse(JSON.stringify(input));
    if (plain !== null && typeof plain === 'object' && !Array.isArray(plain)) return plain as { [key: string]: Json };
  } catch {
    // A circular or BigInt member: keep the event's name so the gap is visible, lose the rest.
  }
  return { event: String(input.event), refused: ['*'] };
}

/** Builds one writer's hash chain: each event carries the hash of the one before it. */
export function createSealer(options: SealerOptions): Sealer {
  let seq = 0;
  let prev = GENESIS;
  return {
    seal(input) {
      const time = new Date(options.now()).toISOString();
      const cleaned = refuseTokens(toPlain(input));
      const body = (cleaned.value ?? {}) as { readonly [key: string]: Json };
      for (const field of cleaned.refused) options.onRefusedField(field, String(input.event));
      const refused = cleaned.refused.length > 0 ? { refused: cleaned.refused } : {};
      // `time` first and the chain fields last keep lines readable; the hash ignores key order.
      const event: Record<string, Json> = { time };
      Object.assign(event, body, refused, { time, writer: options.writerId, seq, prev });
      event.hash = eventHash(event);
      seq += 1;
      prev = event.hash;
      return JSON.stringify(event);
    },
  };
}
