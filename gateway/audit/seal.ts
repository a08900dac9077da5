import { GENESIS, type Json, lineHash } from './canonical.js';
import { looksLikeJwt, refuseTokens } from './redact.js';
import type { AuditEventInput } from './types.js';

export interface Sealer {
  /** The event as one JSON line, with `time`, `writer`, `seq`, `prev` and `hash`. */
  seal(input: AuditEventInput, at: number): string;
  /** The sequence number the next sealed event gets (also how many were sealed). */
  readonly next: number;
}

export interface SealerOptions {
  readonly writerId: string;
  readonly onRefusedField: (field: string, event: string) => void;
}

type Plain = { readonly [key: string]: Json };

/** Plain JSON of the input (`Secret` prints `<redacted>`, `undefined` goes); never throws. */
function toPlain(input: AuditEventInput): Plain {
  try {
    const plain: unknown = JSON.parse(JSON.stringify(input));
    if (plain !== null && typeof plain === 'object' && !Array.isArray(plain)) return plain as Plain;
  } catch {
    // A circular or BigInt member: keep the event's name so the gap is visible, lose the rest.
  }
  return { event: String(input.event), refused: ['*'] };
}

/** Members that the log sets itself; an input carrying one takes the slow path, where ours win. */
const RESERVED = ['time', 'writer', 'seq', 'prev', 'hash', 'refused'] as const;

/**
 * The common case, without a parse: the input's own JSON text between `time` and the chain members. Only the
 * members of the input itself are serialised; `time` and the chain members are spliced around them.
 */
function bodyFast(text: string, time: string, chain: string): string {
  return `{"time":"${time}",${text.slice(1, -1)}${chain}`;
}

/** Any input: parsed, tokens refused field by field, our members set over the input's. */
function bodySlow(input: AuditEventInput, options: SealerOptions, time: string, chain: string): string {
  const cleaned = refuseTokens(toPlain(input));
  for (const field of cleaned.refused) options.onRefusedField(field, String(input.event));
  // `time` first keeps lines readable; the log's own members win over the input's.
  const event: Record<string, Json> = { time };
  Object.assign(event, cleaned.value ?? {});
  event.time = time;
  for (const name of RESERVED) if (name !== 'time') delete event[name];
  if (cleaned.refused.length > 0) event.refused = cleaned.refused;
  const text = JSON.stringify(event);
  return `${text.slice(0, -1)}${chain}`;
}

function serialised(input: AuditEventInput): string | undefined {
  try {
    const text = JSON.stringify(input);
    return text.startsWith('{') && text.length > 2 ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Builds one writer's hash chain: each event carries the hash of the one before it. The members come in a fixed
 * order (`time`, the input's, then `writer`, `seq`, `prev`) and the hash is SHA-256 of the line's own bytes up to
 * `,"hash"` (`lineHash`), so sealing an event is one `JSON.stringify`, a token scan and one hash.
 */
export function createSealer(options: SealerOptions): Sealer {
  let seq = 0;
  let prev = GENESIS;
  const writer = JSON.stringify(options.writerId);
  return {
    get next() {
      return seq;
    },
    seal(input, at) {
      const time = new Date(at).toISOString();
      const chain = `,"writer":${writer},"seq":${seq},"prev":"${prev}"`;
      const text = serialised(input);
      const fast = text !== undefined && !RESERVED.some((name) => Object.hasOwn(input, name)) && !looksLikeJwt(text);
      const body = fast ? bodyFast(text, time, chain) : bodySlow(input, options, time, chain);
      const hash = lineHash(body);
      seq += 1;
      prev = hash;
      return `${body},"hash":"${hash}"}`;
    },
  };
}
