/**
 * The scrubber Escrow used before issue #14, kept only so `npm run bench` can show the new one's cost next to it.
 * It is not on any production path: its `pendingSuffix` hold-back leaked how much of a secret matched (the oracle).
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Shorter secrets are not scrubbed (masking 3-byte runs would corrupt ordinary responses); config warns. */
export const MIN_SCRUB_LENGTH = 4;

/** Cores shorter than this (in base64 characters) are not scrubbed: too likely to occur by chance. */
const MIN_CORE_LENGTH = 8;

/**
 * The base64 text that the secret produces inside a longer base64 text (an upstream that base64-encodes a
 * whole echo of the request), for each of the three byte alignments: only the groups made of secret bytes
 * alone, so they appear whatever precedes or follows.
 */
function base64Cores(raw: Buffer): string[] {
  const cores: string[] = [];
  for (let skip = 0; skip < 3; skip++) {
    const bytes = raw.subarray(skip);
    const core = bytes.subarray(0, bytes.length - (bytes.length % 3)).toString('base64');
    if (core.length >= MIN_CORE_LENGTH) cores.push(core, core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return cores;
}

/**
 * Every byte sequence to remove from what the agent sees: each wire form of the secret, plus its base64
 * (whole and at any alignment inside a longer base64 text), base64url, URL-encoded (both hex cases, `+` for
 * space) and JSON-escaped forms. Longest first, so a longer form is masked before a form it contains.
 */
export function scrubNeedles(wireForms: readonly string[]): Buffer[] {
  const forms = new Set<string>();
  for (const form of wireForms) {
    if (form.length < MIN_SCRUB_LENGTH) continue;
    const raw = Buffer.from(form);
    const encoded = encodeURIComponent(form);
    forms.add(form);
    forms.add(raw.toString('base64'));
    forms.add(raw.toString('base64').replace(/=+$/, ''));
    forms.add(raw.toString('base64url'));
    for (const core of base64Cores(raw)) forms.add(core);
    forms.add(encoded);
    forms.add(encoded.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
    forms.add(encoded.replaceAll('%20', '+'));
    forms.add(new URLSearchParams({ v: form }).toString().slice(2)); // form encoding also escapes !'()~
    forms.add(JSON.stringify(form).slice(1, -1));
  }
  return [...forms].map((f) => Buffer.from(f)).sort((a, b) => b.length - a.length);
}

const MASK = 0x2a; // '*'

/** Mask every needle in `buf` in place with `*` of the same length (so Content-Length stays true). */
export function maskInPlace(buf: Buffer, needles: readonly Buffer[]): boolean {
  let found = false;
  for (const needle of needles) {
    let at = buf.indexOf(needle);
    while (at !== -1) {
      buf.fill(MASK, at, at + needle.length);
      found = true;
      at = buf.indexOf(needle, at + needle.length);
    }
  }
  return found;
}

/** Mask needles in a header value. */
export function scrubString(value: string, needles: readonly Buffer[]): string {
  if (needles.length === 0) return value;
  const buf = Buffer.from(value);
  return maskInPlace(buf, needles) ? buf.toString() : value;
}

/** Length of the longest suffix of `buf` that is a proper prefix of some needle (what a later chunk may complete). */
function pendingSuffix(buf: Buffer, needles: readonly Buffer[]): number {
  const max = Math.min(buf.length, (needles[0]?.length ?? 1) - 1);
  for (let k = max; k > 0; k--) {
    const start = buf.length - k;
    for (const needle of needles) {
      // The first-byte test rejects almost every candidate without a native call.
      if (needle.length > k && buf[start] === needle[0] && buf.compare(needle, 0, k, start, buf.length) === 0) return k;
    }
  }
  return 0;
}

/**
 * Scrub `chunk` that follows `carry` (bytes held back from the previous chunk): returns the bytes that are safe
 * to pass on now and the new carry, the longest tail that could be the start of a secret split over chunks.
 */
export function scrubChunk(
  carry: Buffer,
  chunk: Buffer,
  needles: readonly Buffer[],
): { ready: Buffer; carry: Buffer; found: boolean } {
  const buf = carry.length === 0 ? Buffer.from(chunk) : Buffer.concat([carry, chunk]);
  const found = maskInPlace(buf, needles);
  const keep = pendingSuffix(buf, needles);
  if (keep === 0) return { ready: buf, carry: EMPTY, found };
  return { ready: buf.subarray(0, buf.length - keep), carry: Buffer.from(buf.subarray(buf.length - keep)), found };
}

const EMPTY = Buffer.alloc(0);

/**
 * A streaming scrubber, safe across chunk boundaries: it holds back only the bytes that could be the start
 * of a secret split over two chunks, and passes everything else on at once (so SSE events are not delayed).
 */
export class ScrubStream extends Transform {
  readonly #needles: readonly Buffer[];
  #carry: Buffer = EMPTY;
  found = false;

  constructor(needles: readonly Buffer[]) {
    super();
    this.#needles = needles;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const { ready, carry, found } = scrubChunk(this.#carry, chunk, this.#needles);
    this.#carry = carry;
    if (found) this.found = true;
    callback(null, ready.length > 0 ? ready : undefined);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#carry.length > 0 ? this.#carry : undefined);
  }
}
