import { Transform, type TransformCallback } from 'node:stream';

/** Shorter secrets are not scrubbed (masking 3-byte runs would corrupt ordinary responses); config warns. */
export const MIN_SCRUB_LENGTH = 4;

/**
 * Every byte sequence to remove from what the agent sees: each wire form of the secret, plus its base64,
 * base64url, URL-encoded and JSON-escaped forms. Longest first, so a longer form is masked before a form
 * it contains.
 */
export function scrubNeedles(wireForms: readonly string[]): Buffer[] {
  const forms = new Set<string>();
  for (const form of wireForms) {
    if (form.length < MIN_SCRUB_LENGTH) continue;
    const raw = Buffer.from(form);
    forms.add(form);
    forms.add(raw.toString('base64'));
    forms.add(raw.toString('base64').replace(/=+$/, ''));
    forms.add(raw.toString('base64url'));
    forms.add(encodeURIComponent(form));
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
      if (needle.length > k && buf.compare(needle, 0, k, start, buf.length) === 0) return k;
    }
  }
  return 0;
}

/**
 * A streaming scrubber, safe across chunk boundaries: it holds back only the bytes that could be the start
 * of a secret split over two chunks, and passes everything else on at once (so SSE events are not delayed).
 */
export class ScrubStream extends Transform {
  readonly #needles: readonly Buffer[];
  #carry: Buffer = Buffer.alloc(0);
  found = false;

  constructor(needles: readonly Buffer[]) {
    super();
    this.#needles = needles;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = this.#carry.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#carry, chunk]);
    if (maskInPlace(buf, this.#needles)) this.found = true;
    const keep = pendingSuffix(buf, this.#needles);
    this.#carry = keep === 0 ? Buffer.alloc(0) : Buffer.from(buf.subarray(buf.length - keep));
    callback(null, keep === 0 ? buf : buf.subarray(0, buf.length - keep));
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#carry.length > 0 ? this.#carry : undefined);
  }
}
