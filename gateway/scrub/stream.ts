import { DecodedView } from './decoder.js';
import type { NeedleIndex } from './index.js';
import { MaskSet } from './masks.js';
import { ViewScanner } from './scanner.js';
import { SseView } from './sse-view.js';

const EMPTY = Buffer.alloc(0);
/** The holdback is rounded up to this, so it tells little about the length of the longest secret. */
const HOLDBACK_STEP = 256;

export interface StreamScrubberOptions {
  /** A `text/event-stream`: also match across the `data:` values of successive events. */
  readonly sse?: boolean;
  /**
   * Scan every plain byte in the decoded view too, instead of only those a match with an escape can reach
   * (DecodedView `#plain`). The same masks either way; the equivalence test and the scrub bench compare the two.
   */
  readonly everyDecodedByte?: boolean;
}

/**
 * The scrubbing state of one response body or one WebSocket's upstream-to-agent data: every byte is scanned
 * in the raw and decoded views (and the SSE view) on arrival, and held until the caller releases it. The caller
 * decides release points from sizes and times alone (`due`, a deadline, the end); masks are applied to what is
 * released. Masks never change a length, so where and how much is released never depends on what matched.
 */
export class StreamScrubber {
  /** Bytes the window keeps back: longer than any match can span, fixed for the stream's life. */
  readonly holdback: number;
  readonly #masks = new MaskSet();
  readonly #raw: ViewScanner;
  readonly #decoded: DecodedView;
  readonly #sse: SseView | undefined;
  #held: Buffer[] = [];
  #ended = false;
  #received = 0;
  #released = 0;

  constructor(index: NeedleIndex, options: StreamScrubberOptions = {}) {
    this.holdback = Math.ceil(index.holdback / HOLDBACK_STEP) * HOLDBACK_STEP;
    this.#raw = new ViewScanner(index, this.#masks, true);
    this.#decoded = new DecodedView(new ViewScanner(index, this.#masks, false), options.everyDecodedByte !== true);
    this.#sse = options.sse ? new SseView(new ViewScanner(index, this.#masks, false)) : undefined;
  }

  get received(): number {
    return this.#received;
  }

  get released(): number {
    return this.#released;
  }

  /** How far the window lets the stream be released now: all but the last `holdback` bytes. */
  get due(): number {
    return Math.max(this.#released, this.#received - this.holdback);
  }

  /** Scan and hold `chunk`. The chunk is kept by reference and never modified. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#raw.scanSource(chunk, 0, chunk.length, this.#received);
    this.#decoded.feed(chunk, this.#received);
    this.#sse?.feed(chunk, this.#received);
    this.#held.push(chunk);
    this.#received += chunk.length;
  }

  /** Release the stream up to offset `upTo`: a masked copy of the bytes since the last release. */
  take(upTo: number): Buffer {
    const end = Math.min(upTo, this.#received);
    if (end <= this.#released) return EMPTY;
    const out = Buffer.allocUnsafe(end - this.#released);
    let filled = 0;
    while (filled < out.length) {
      const head = this.#held[0]!;
      const n = Math.min(head.length, out.length - filled);
      head.copy(out, filled, 0, n);
      filled += n;
      if (n === head.length) this.#held.shift();
      else this.#held[0] = head.subarray(n);
    }
    this.#masks.apply(out, this.#released);
    this.#released = end;
    return out;
  }

  /**
   * Release everything held now, as at an end (what the decoder still holds is decoded as far as it goes), but keep
   * scanning what comes after (a WebSocket's close frame: data after it is still scanned).
   */
  flush(): Buffer {
    this.#decoded.finish();
    return this.take(this.#received);
  }

  /**
   * The end of the stream: finish decoding and release everything still held. The scanners' arrays go back for
   * the next stream (gateway/scrub/scratch.ts); pushing after the end throws.
   */
  end(): Buffer {
    if (this.#ended) return this.take(this.#received);
    this.#ended = true;
    const rest = this.flush();
    this.#raw.release();
    this.#decoded.release();
    this.#sse?.release();
    return rest;
  }
}

/** Scrub a whole value at once (a header, a control frame, a small body). */
export function scrubBytes(index: NeedleIndex, bytes: Buffer, options: StreamScrubberOptions = {}): Buffer {
  const scrubber = new StreamScrubber(index, options);
  scrubber.push(bytes);
  return scrubber.end();
}

/** Scrub a header value (header strings hold one byte per character, unless a client decoded UTF-8). */
export function scrubText(index: NeedleIndex, value: string): string {
  return scrubTexts(index, [value])[0]!;
}

const NOT_LATIN1 = /[^\u0000-\u00ff]/;

/**
 * Scrub several header values in one pass (one scrubber, not one per value): they are scanned as one text, one
 * line each, and cut apart again at their own offsets. The decoded view reads across line breaks (as across wrapped
 * base64), so a secret cut in two across two values is masked in both: joining only adds matches. Masks keep
 * lengths, so every value keeps its length. Returns `values` itself when nothing was masked.
 *
 * An upstream answers with the same headers again and again: the result for a text is kept (TextMemo) while the
 * index's set of needles stays the same — a pure function of the two, so a kept result is exactly what scanning
 * again would give, and whether it was kept depends on the text having been seen, never on what it matched.
 */
export function scrubTexts(index: NeedleIndex, values: readonly string[]): readonly string[] {
  if (index.values === 0 || values.length === 0) return values;
  const joined = values.length === 1 ? values[0]! : values.join('\n');
  const memo = memoFor(index);
  const kept = memo.get(joined);
  if (kept !== undefined) return kept === UNCHANGED ? values : kept;
  const scrubbed = scanTexts(index, values, joined);
  memo.set(joined, scrubbed === values ? UNCHANGED : scrubbed);
  return scrubbed;
}

function scanTexts(index: NeedleIndex, values: readonly string[], joined: string): readonly string[] {
  const encoding = NOT_LATIN1.test(joined) ? 'utf8' : 'latin1';
  const bytes = Buffer.from(joined, encoding);
  const out = scrubBytes(index, bytes);
  if (out.equals(bytes)) return values;
  const scrubbed: string[] = [];
  let at = 0;
  for (const value of values) {
    const length = Buffer.byteLength(value, encoding);
    scrubbed.push(out.toString(encoding, at, at + length));
    at += length + 1;
  }
  return Object.freeze(scrubbed);
}

const UNCHANGED: readonly string[] = Object.freeze([]);
/** Texts longer than this are scanned every time (a kept result is for the headers an upstream repeats). */
const MEMO_MAX_TEXT = 4096;
const MEMO_MAX_ENTRIES = 256;

/** Scrubbed texts of one index's current generation (the set of needles); emptied when the generation moves on. */
class TextMemo {
  readonly #index: NeedleIndex;
  readonly #entries = new Map<string, readonly string[]>();
  #generation: number;

  constructor(index: NeedleIndex) {
    this.#index = index;
    this.#generation = index.generation;
  }

  get(text: string): readonly string[] | undefined {
    if (this.#generation !== this.#index.generation) {
      this.#entries.clear();
      this.#generation = this.#index.generation;
      return undefined;
    }
    return this.#entries.get(text);
  }

  /** Keep `result` for `text`, scanned under the generation `get` just checked. */
  set(text: string, result: readonly string[]): void {
    if (text.length > MEMO_MAX_TEXT || this.#generation !== this.#index.generation) return;
    if (this.#entries.size >= MEMO_MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(text, result);
  }
}

const memos = new WeakMap<NeedleIndex, TextMemo>();

function memoFor(index: NeedleIndex): TextMemo {
  let memo = memos.get(index);
  if (memo === undefined) {
    memo = new TextMemo(index);
    memos.set(index, memo);
  }
  return memo;
}
