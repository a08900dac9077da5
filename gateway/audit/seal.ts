import { canonicalJson, eventHash, GENESIS, type Json, sha256Hex } from './canonical.js';
import { looksLikeJwt, refuseTokens } from './redact.js';
import type { AuditEventInput } from './types.js';

export interface Sealer {
  /** The event as one JSON line, with `time`, `writer`, `seq`, `prev` and `hash`. */
  seal(input: AuditEventInput, at: number): string;
}

export interface SealerOptions {
  readonly writerId: string;
  readonly onRefusedField: (field: string, event: string) => void;
}

type Plain = { readonly [key: string]: Json };

/** Plain JSON of the input (`Secret` prints `<redacted>`, `undefined` goes); never throws. */
function toPlain(input: AuditEventInput): { readonly plain: Plain } {
  try {
    const plain: unknown = JSON.parse(JSON.stringify(input));
    if (plain !== null && typeof plain === 'object' && !Array.isArray(plain)) return { plain: plain as Plain };
  } catch {
    // A circular or BigInt member: keep the event's name so the gap is visible, lose the rest.
  }
  return { plain: { event: String(input.event), refused: ['*'] } };
}

/** Members that the log sets itself; an input carrying one takes the slow path, where ours win. */
const RESERVED = ['time', 'writer', 'seq', 'prev', 'hash', 'refused'] as const;

interface Link {
  readonly time: string;
  readonly writer: string;
  readonly seq: number;
  readonly prev: string;
}

/**
 * The common case, without a parse: the input's own JSON text spliced between `time` and the chain members.
 * The hash is over the canonical form of exactly the members the line holds (`canonicalJson` follows
 * `JSON.stringify`'s rules), so `verifyChain` gets the same hash back from the parsed line.
 */
function sealFast(input: AuditEventInput, text: string, link: Link): { line: string; hash: string } {
  const hash = sha256Hex(canonicalJson({ ...input, ...link }));
  const inner = text.slice(1, -1);
  const line =
    `{"time":${JSON.stringify(link.time)},${inner}${inner === '' ? '' : ','}"writer":${JSON.stringify(link.writer)},` +
    `"seq":${link.seq},"prev":"${link.prev}","hash":"${hash}"}`;
  return { line, hash };
}

/** Any input: parsed, tokens refused field by field, our members set over the input's. */
function sealSlow(input: AuditEventInput, options: SealerOptions, link: Link): { line: string; hash: string } {
  const { plain } = toPlain(input);
  const cleaned = refuseTokens(plain);
  for (const field of cleaned.refused) options.onRefusedField(field, String(input.event));
  const refused = cleaned.refused.length > 0 ? { refused: cleaned.refused } : {};
  // `time` first and the chain members last keep lines readable; the hash ignores key order.
  const event: Record<string, Json> = { time: link.time };
  Object.assign(event, cleaned.value ?? {}, refused, link);
  const hash = eventHash(event);
  event.hash = hash;
  return { line: JSON.stringify(event), hash };
}

function serialised(input: AuditEventInput): string | undefined {
  try {
    const text = JSON.stringify(input);
    return text.startsWith('{') ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Builds one writer's hash chain: each event carries the hash of the one before it. */
export function createSealer(options: SealerOptions): Sealer {
  let seq = 0;
  let prev = GENESIS;
  return {
    seal(input, at) {
      const link: Link = { time: new Date(at).toISOString(), writer: options.writerId, seq, prev };
      const text = serialised(input);
      const fast = text !== undefined && !RESERVED.some((name) => Object.hasOwn(input, name)) && !looksLikeJwt(text);
      const { line, hash } = fast ? sealFast(input, text, link) : sealSlow(input, options, link);
      seq += 1;
      prev = hash;
      return line;
    },
  };
}
