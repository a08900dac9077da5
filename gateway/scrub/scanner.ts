import type { NeedleIndex } from './index.js';
import type { MaskSet } from './masks.js';

/** Base64 characters of either alphabet: what an extension around a base64 core may mask. */
const BASE64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') BASE64[c.charCodeAt(0)] = 1;

function ringSize(span: number): number {
  let size = 64;
  while (size < span + 16) size *= 2;
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
  #hi = 0;
  #lo = 0;
  /** Base64 characters still to mask after a core match. */
  #after = 0;

  constructor(index: NeedleIndex, masks: MaskSet, identity: boolean) {
    this.#index = index;
    this.#masks = masks;
    this.#identity = identity;
    this.#ring = ringSize(index.maxSpan);
    this.#bytes = new Uint8Array(this.#ring);
    this.#starts = new Float64Array(identity ? 0 : this.#ring);
    this.#lens = new Uint8Array(identity ? 0 : this.#ring);
  }

  /**
   * Scan source bytes `chunk[from..to)` as view bytes of their own (byte k came from source offset `base + k`).
   * With `stopAt`, stop before the first byte marked in it and return its index; otherwise return `to`.
   */
  scanSource(chunk: Uint8Array, from: number, to: number, base: number, stopAt?: Uint8Array): number {
    this.#fit();
    const { hi: tHi, lo: tLo, head: tHead, mask: tMask } = this.#index.long.arrays();
    const probeShort = this.#index.short.size > 0;
    const identity = this.#identity;
    const ring = this.#bytes;
    const starts = this.#starts;
    const lens = this.#lens;
    const rmask = this.#ring - 1;
    let hi = this.#hi;
    let lo = this.#lo;
    let i = this.#count;
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
      if (this.#after > 0) this.#extendAfter(b, i);
      // Probe the table inline (this loop runs for every byte of every response): one read when nothing is there.
      const h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
      let slot = (h ^ (h >>> 16)) & tMask;
      for (let head = tHead[slot]!; head !== 0 && i >= 7; head = tHead[slot]!) {
        if (head > 0 && tLo[slot] === lo && tHi[slot] === hi) {
          this.#count = i + 1;
          this.#verify(head - 1, i);
          break;
        }
        slot = (slot + 1) & tMask;
      }
      if (probeShort && i >= 3) this.#probeShort(lo, i);
    }
    this.#count = i;
    this.#hi = hi;
    this.#lo = lo;
    return k;
  }

  /** Scan view bytes that each carry their own source range (decoded escapes, SSE data). */
  scanMapped(view: ViewBytes): void {
    this.#fit();
    const rmask = () => this.#ring - 1;
    for (let k = 0; k < view.length; k++) {
      const i = this.#count++;
      const b = view.bytes[k]!;
      this.#bytes[i & rmask()] = b;
      this.#starts[i & rmask()] = view.starts[k]!;
      this.#lens[i & rmask()] = view.lens[k]!;
      this.#hi = (this.#hi << 8) | (this.#lo >>> 24);
      this.#lo = (this.#lo << 8) | b;
      if (this.#after > 0) this.#extendAfter(b, i);
      if (i >= 7) {
        const head = this.#index.long.find(this.#hi, this.#lo);
        if (head !== -1) this.#verify(head, i);
      }
      if (i >= 3 && this.#index.short.size > 0) this.#probeShort(this.#lo, i);
    }
  }

  #probeShort(lo: number, i: number): void {
    const head = this.#index.short.find(0, lo);
    if (head !== -1) {
      this.#count = i + 1;
      this.#verify(head, i);
    }
  }

  /** Grow the history when a longer needle was added since this stream started. */
  #fit(): void {
    const size = ringSize(this.#index.maxSpan);
    if (size <= this.#ring) return;
    const old = { bytes: this.#bytes, starts: this.#starts, lens: this.#lens, mask: this.#ring - 1 };
    this.#bytes = new Uint8Array(size);
    this.#starts = new Float64Array(this.#identity ? 0 : size);
    this.#lens = new Uint8Array(this.#identity ? 0 : size);
    for (let i = Math.max(0, this.#count - this.#ring); i < this.#count; i++) {
      this.#bytes[i & (size - 1)] = old.bytes[i & old.mask]!;
      if (this.#identity) continue;
      this.#starts[i & (size - 1)] = old.starts[i & old.mask]!;
      this.#lens[i & (size - 1)] = old.lens[i & old.mask]!;
    }
    this.#ring = size;
  }

  #extendAfter(byte: number, i: number): void {
    if (BASE64[byte] !== 1) {
      this.#after = 0;
      return;
    }
    this.#maskByte(i);
    this.#after--;
  }

  /** Walk the anchor's chain; mask every needle that really ends at byte `last`. */
  #verify(head: number, last: number): void {
    const mask = this.#ring - 1;
    for (let id = head; id !== -1; ) {
      const needle = this.#index.needle(id);
      id = needle.next;
      const first = last - needle.length + 1;
      if (first < 0 || needle.length + needle.extendBefore > this.#ring) continue;
      const bytes = this.#index.bytesOf(needle);
      let equal = true;
      for (let k = 0; k < bytes.length && equal; k++) equal = this.#bytes[(first + k) & mask] === bytes[k];
      if (!equal) continue;
      for (let k = first; k <= last; k++) this.#maskByte(k);
      this.#extendBefore(first, needle.extendBefore);
      if (needle.extendAfter > this.#after) this.#after = needle.extendAfter;
    }
  }

  #extendBefore(first: number, count: number): void {
    const oldest = Math.max(0, this.#count - this.#ring);
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
