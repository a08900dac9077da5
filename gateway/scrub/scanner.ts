import { type NeedleIndex, STRIDE } from './index.js';
import type { MaskSet } from './masks.js';
import type { Scratch } from './scratch.js';
import { TAG_SHIFT } from './tags.js';

/** Base64 characters of either alphabet: what an extension around a base64 core may mask. */
const BASE64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') BASE64[c.charCodeAt(0)] = 1;

const STRIDE_MASK = STRIDE - 1;

/** History enough for the longest needle and its extension, plus a stride of pending verification. */
function ringSize(span: number): number {
  let size = 64;
  while (size < span + 16 + STRIDE) size *= 2;
  return size;
}

/** Bytes of a view produced from one source chunk, each with the source range it came from. */
export interface ViewBytes {
  readonly bytes: Uint8Array;
  readonly starts: Float64Array;
  readonly lens: Uint8Array;
  readonly length: number;
}

/**
 * One view of a stream (raw, decoded or SSE data) as a sequence of bytes, each mapped back to the source range it
 * came from. Every byte scanned updates two shift registers holding the last 8 bytes and probes the needle index
 * with them: one table read per byte whatever the number of needles. A hit is verified against the view's history,
 * and a verified match masks the source range of each of its bytes, never anything else: nothing is masked for a
 * partial match, so what the agent sees cannot tell how much of a secret its own input matched.
 */
export class ViewScanner {
  readonly #index: NeedleIndex;
  readonly #masks: MaskSet;
  /** The raw view: byte i of the view is source byte i, so no source ranges are kept. */
  readonly #identity: boolean;
  #bytes: Uint8Array;
  #starts: Float64Array;
  #lens: Uint8Array;
  #ring: number;
  /** Bytes scanned so far: the next byte's index in this view. */
  #count = 0;
  /** The view index of the first byte after the last gap (`gap`): no match starts before it. */
  #floor = 0;
  #hi = 0;
  #lo = 0;
  /** Base64 characters still to mask after a core match. */
  #after = 0;
  /** Needles to verify later, as (needle id, view index of their last byte) pairs; the soonest index. */
  #pending: number[] = [];
  #pendingAt = -1;
  #released = false;

  constructor(index: NeedleIndex, masks: MaskSet, identity: boolean) {
    this.#index = index;
    this.#masks = masks;
    this.#identity = identity;
    this.#ring = ringSize(index.maxSpan);
    this.#bytes = index.scratch.bytes(this.#ring);
    this.#starts = index.scratch.floats(identity ? 0 : this.#ring);
    this.#lens = index.scratch.bytes(identity ? 0 : this.#ring);
  }

  /** Where this scanner's stream takes its arrays (its views take theirs there too). */
  get scratch(): Scratch {
    return this.#index.scratch;
  }

  /**
   * How many bytes of history this view keeps (at least the longest match with its extensions, plus a stride):
   * the reach of a match, counted in view bytes.
   */
  get history(): number {
    this.#fit();
    return this.#ring;
  }

  /**
   * The next bytes scanned do not follow the ones before in this view (the caller skipped some): no match may span
   * the gap, so the history, the registers, the pending verifications and an extension in progress all end here.
   */
  gap(): void {
    this.#floor = this.#count;
    this.#hi = 0;
    this.#lo = 0;
    this.#after = 0;
    this.#pending = [];
    this.#pendingAt = -1;
  }

  /** The stream ended: its arrays go back to the index (zeroed). Scanning after this throws. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const scratch = this.#index.scratch;
    scratch.give(this.#bytes);
    scratch.give(this.#starts);
    scratch.give(this.#lens);
  }

  /**
   * Scan source bytes `chunk[from..to)` as view bytes of their own (byte k came from source offset `base + k`).
   * With `stopAt`, stop before the first byte marked in it and return its index; otherwise return `to`.
   */
  scanSource(chunk: Uint8Array, from: number, to: number, base: number, stopAt?: Uint8Array): number {
    this.#fit();
    const tags = this.#index.tags.slots;
    const probeDense = this.#index.dense.size > 0;
    const identity = this.#identity;
    const ring = this.#bytes;
    const starts = this.#starts;
    const lens = this.#lens;
    const rmask = this.#ring - 1;
    let hi = this.#hi;
    let lo = this.#lo;
    let i = this.#count;
    // Copies of fields that change only in the calls below (refreshed after each): no field read per byte.
    let after = this.#after;
    let pendingAt = this.#pendingAt;
    let k = from;
    for (; k < to; k++, i++) {
      const b = chunk[k]!;
      if (stopAt !== undefined && stopAt[b] === 1) break;
      ring[i & rmask] = b;
      if (!identity) {
        starts[i & rmask] = base + k;
        lens[i & rmask] = 1;
      }
      hi = (hi << 8) | (lo >>> 24);
      lo = (lo << 8) | b;
      if (after > 0 || i === pendingAt || probeDense) {
        this.#slowPath(b, i, hi, lo);
        after = this.#after;
        pendingAt = this.#pendingAt;
      }
      // Every STRIDE-th byte: hash the last 8 bytes and look at one byte of the fixed-size tag filter.
      if ((i & STRIDE_MASK) === STRIDE_MASK) {
        const h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
        const hash = h ^ (h >>> 16);
        const tag = tags[hash >>> TAG_SHIFT]!;
        if (tag !== 0 && (tag === 0xff || tag === ((hash & 0x7e) | 1))) {
          this.#count = i + 1;
          this.#sparseHit(hi, lo, i);
          after = this.#after;
          pendingAt = this.#pendingAt;
        }
      }
    }
    this.#count = i;
    this.#hi = hi;
    this.#lo = lo;
    return k;
  }

  /**
   * Scan view bytes that each carry their own source range (decoded escapes, SSE data).
   *
   * The loop is `scanSource`'s with the source range read from the view; a change to one is a change to both. It is
   * a second copy on purpose: this is the per-byte loop every body goes through, and one loop for both (a branch on
   * the view per byte, with the raw view's Buffer and a mapped view's Uint8Array through one load) measured 1–12 %
   * slower per body in an interleaved A/B against this code (bench/scrub.ts's bodies, 1 and 10 000 leases).
   */
  scanMapped(view: ViewBytes): void {
    this.#fit();
    const tags = this.#index.tags.slots;
    const probeDense = this.#index.dense.size > 0;
    const ring = this.#bytes;
    const starts = this.#starts;
    const lens = this.#lens;
    const rmask = this.#ring - 1;
    let hi = this.#hi;
    let lo = this.#lo;
    let i = this.#count;
    let after = this.#after;
    let pendingAt = this.#pendingAt;
    for (let k = 0; k < view.length; k++, i++) {
      const b = view.bytes[k]!;
      ring[i & rmask] = b;
      starts[i & rmask] = view.starts[k]!;
      lens[i & rmask] = view.lens[k]!;
      hi = (hi << 8) | (lo >>> 24);
      lo = (lo << 8) | b;
      if (after > 0 || i === pendingAt || probeDense) {
        this.#slowPath(b, i, hi, lo);
        after = this.#after;
        pendingAt = this.#pendingAt;
      }
      if ((i & STRIDE_MASK) === STRIDE_MASK) {
        const h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
        const hash = h ^ (h >>> 16);
        const tag = tags[hash >>> TAG_SHIFT]!;
        if (tag !== 0 && (tag === 0xff || tag === ((hash & 0x7e) | 1))) {
          this.#count = i + 1;
          this.#sparseHit(hi, lo, i);
          after = this.#after;
          pendingAt = this.#pendingAt;
        }
      }
    }
    this.#count = i;
    this.#hi = hi;
    this.#lo = lo;
  }

  /** Work that most bytes skip: a base64 extension in progress, a pending verification, short needles. */
  #slowPath(b: number, i: number, hi: number, lo: number): void {
    this.#count = i + 1;
    if (this.#after > 0) this.#extendAfter(b, i);
    if (i === this.#pendingAt) this.#runPending(i);
    if (i >= this.#floor + 3 && this.#index.dense.size > 0) {
      const anchors = this.#index.anchors;
      for (let a = this.#index.dense.find(0, lo); a !== -1; a = anchors.next[a]!) this.#verify(anchors.needle[a]!, i);
    }
    void hi;
  }

  /** A tag matched: ask the table; each anchor there says where its needle would end. */
  #sparseHit(hi: number, lo: number, i: number): void {
    if (i < this.#floor + 7) return;
    const anchors = this.#index.anchors;
    for (let a = this.#index.sparse.find(hi, lo); a !== -1; a = anchors.next[a]!) {
      const back = anchors.back[a]!;
      if (back === 0) this.#verify(anchors.needle[a]!, i);
      else this.#pend(anchors.needle[a]!, i + back);
    }
  }

  /** Verify `needle` once byte `end` has been scanned. */
  #pend(needle: number, end: number): void {
    this.#pending.push(needle, end);
    if (end < this.#pendingAt || this.#pendingAt < 0) this.#pendingAt = end;
  }

  #runPending(i: number): void {
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingAt = -1;
    for (let p = 0; p < pending.length; p += 2) {
      if (pending[p + 1] === i) this.#verify(pending[p]!, i);
      else this.#pend(pending[p]!, pending[p + 1]!);
    }
  }

  /** Grow the history when a longer needle was added since this stream started. */
  #fit(): void {
    // Its arrays went back at the end of its stream (another stream may hold them now): never scan with them.
    if (this.#released) throw new Error('a scanner was used after its stream ended');
    if (this.#index.maxSpan + 16 + STRIDE <= this.#ring) return;
    const size = ringSize(this.#index.maxSpan);
    const old = { bytes: this.#bytes, starts: this.#starts, lens: this.#lens, mask: this.#ring - 1 };
    const scratch = this.#index.scratch;
    this.#bytes = scratch.bytes(size);
    this.#starts = scratch.floats(this.#identity ? 0 : size);
    this.#lens = scratch.bytes(this.#identity ? 0 : size);
    for (let i = Math.max(0, this.#count - this.#ring); i < this.#count; i++) {
      this.#bytes[i & (size - 1)] = old.bytes[i & old.mask]!;
      if (this.#identity) continue;
      this.#starts[i & (size - 1)] = old.starts[i & old.mask]!;
      this.#lens[i & (size - 1)] = old.lens[i & old.mask]!;
    }
    this.#ring = size;
    scratch.give(old.bytes);
    scratch.give(old.starts);
    scratch.give(old.lens);
  }

  #extendAfter(byte: number, i: number): void {
    if (BASE64[byte] !== 1) {
      this.#after = 0;
      return;
    }
    this.#maskByte(i);
    this.#after--;
  }

  /** Mask needle `id` if it really ends at byte `last`. */
  #verify(id: number, last: number): void {
    const mask = this.#ring - 1;
    const needle = this.#index.needle(id);
    const first = last - needle.length + 1;
    if (first < this.#floor || first < this.#count - this.#ring || needle.length + needle.extendBefore > this.#ring) {
      return;
    }
    const bytes = this.#index.bytesOf(needle);
    for (let k = 0; k < bytes.length; k++) if (this.#bytes[(first + k) & mask] !== bytes[k]) return;
    for (let k = first; k <= last; k++) this.#maskByte(k);
    this.#extendBefore(first, needle.extendBefore);
    if (needle.extendAfter > this.#after) this.#after = needle.extendAfter;
  }

  #extendBefore(first: number, count: number): void {
    const oldest = Math.max(this.#floor, this.#count - this.#ring);
    for (let k = first - 1, n = 0; n < count && k >= oldest; k--, n++) {
      if (BASE64[this.#bytes[k & (this.#ring - 1)]!] !== 1) return;
      this.#maskByte(k);
    }
  }

  #maskByte(k: number): void {
    if (this.#identity) {
      this.#masks.add(k, k + 1);
      return;
    }
    const at = k & (this.#ring - 1);
    const start = this.#starts[at]!;
    this.#masks.add(start, start + this.#lens[at]!);
  }
}
