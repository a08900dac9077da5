import { AnchorTable } from './anchors.js';
import { type Form, formsOf } from './forms.js';
import { Scratch } from './scratch.js';
import { TagFilter } from './tags.js';

/** Longest source span of one decoded byte in the decoded view (`&#0000047;`), and the decoder's look-ahead. */
export const MAX_TOKEN_BYTES = 10;
export const DECODER_LOOKAHEAD = 12;

/** Probing stride: a needle of SPARSE_MIN bytes or more is anchored at STRIDE places, so it is found at any phase. */
export const STRIDE = 8;
const SPARSE_MIN = 8 + STRIDE - 1;

/** One needle: which value it belongs to, which of that value's forms it is, and its shape. */
export interface Needle {
  readonly value: string;
  readonly form: number;
  readonly length: number;
  readonly extendBefore: number;
  readonly extendAfter: number;
}

/**
 * The anchors of every needle, in parallel typed arrays (ten thousand leases make a million of them): anchor `a`
 * belongs to needle `needle[a]`, its 8 bytes end `back[a]` bytes before the needle's last byte, and `next[a]` is
 * the next anchor with the same bytes, or -1.
 */
export class Anchors {
  needle = new Int32Array(1024);
  back = new Uint8Array(1024);
  next = new Int32Array(1024);
  readonly #free: number[] = [];
  #used = 0;

  allocate(needle: number, back: number, next: number): number {
    const a = this.#free.pop() ?? this.#used++;
    if (a >= this.needle.length) this.#grow();
    this.needle[a] = needle;
    this.back[a] = back;
    this.next[a] = next;
    return a;
  }

  release(a: number): void {
    this.#free.push(a);
  }

  #grow(): void {
    const size = this.needle.length * 2;
    const grow = <T extends Int32Array | Uint8Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    this.needle = grow(this.needle, new Int32Array(size));
    this.back = grow(this.back, new Uint8Array(size));
    this.next = grow(this.next, new Int32Array(size));
  }
}

interface Entry {
  refs: number;
  readonly ids: number[];
}

/** The two 32-bit words of the 8 bytes ending `back` bytes before the end (the last 4 alone for short needles). */
function anchorWords(bytes: Buffer, back: number): { hi: number; lo: number } {
  const end = bytes.length - back;
  return { hi: bytes.length >= SPARSE_MIN ? bytes.readInt32BE(end - 8) : 0, lo: bytes.readInt32BE(end - 4) };
}

/**
 * Every needle this replica scrubs, for every secret value it holds. A value is added with a reference count
 * (the same static key may back ten thousand leases) and its needles leave when the last reference goes.
 *
 * Lookups are by anchor. A needle of SPARSE_MIN bytes or more is anchored by each of the 8-byte windows ending 0 to
 * STRIDE−1 bytes before its end, so a scanner probes only every STRIDE-th byte and still meets one of them; such
 * probes go first through a fixed-size tag filter, so the memory touched per scanned byte is the same with one lease
 * or ten thousand (bench/scrub.ts). Shorter needles (a 4-byte config secret) are anchored by their last 4 bytes and
 * probed at every byte, in a table that only they fill. Adding and removing are synchronous: a value is matched
 * from the first byte scanned after `add` returns.
 */
export class NeedleIndex {
  /** Arrays ended streams give back for the next ones (scratch.ts). */
  readonly scratch = new Scratch();
  readonly #entries = new Map<string, Entry>();
  readonly #needles: Needle[] = [];
  readonly #freeNeedles: number[] = [];
  readonly anchors = new Anchors();
  readonly sparse = new AnchorTable(1024);
  readonly tags = new TagFilter();
  readonly dense = new AnchorTable(16);
  /** How many live needles have each span (for the holdback and the history size). */
  readonly #spans = new Map<number, number>();
  #maxSpan = 0;
  /** The forms of the value last verified: a match is usually followed by more of the same value. */
  #recent: { value: string; forms: Form[] } | undefined;
  #generation = 0;

  /** Add a reference to `value` (no-op for values too short to scrub). */
  add(value: string): void {
    const entry = this.#entries.get(value);
    if (entry) {
      entry.refs++;
      return;
    }
    const forms = formsOf(value);
    if (forms.length === 0) return;
    this.#generation++;
    this.#entries.set(value, { refs: 1, ids: forms.map((form, i) => this.#insert(value, i, form)) });
  }

  /** Drop a reference to `value`; its needles go with the last one. */
  remove(value: string): void {
    const entry = this.#entries.get(value);
    if (!entry || --entry.refs > 0) return;
    this.#generation++;
    this.#entries.delete(value);
    const forms = formsOf(value);
    for (const id of entry.ids) this.#unlink(id, forms[this.#needles[id]!.form]!.bytes);
    if (this.tags.stale > this.sparse.size + 1024) this.#rebuildTags();
  }

  has(value: string): boolean {
    return this.#entries.has(value);
  }

  /**
   * Changes whenever the set of needles does (a value's first reference came or its last went; not when a
   * reference is only counted): what was scrubbed under one generation scrubs the same under it again.
   */
  get generation(): number {
    return this.#generation;
  }

  get values(): number {
    return this.#entries.size;
  }

  needle(id: number): Needle {
    return this.#needles[id]!;
  }

  /** The bytes of a needle, computed again from its value (needles keep no copy: tokens can be long). */
  bytesOf(needle: Needle): Buffer {
    if (this.#recent?.value !== needle.value) this.#recent = { value: needle.value, forms: formsOf(needle.value) };
    return this.#recent.forms[needle.form]!.bytes;
  }

  /** The longest stretch of view bytes a match needs, extensions included: how much history a view keeps. */
  get maxSpan(): number {
    return this.#maxSpan;
  }

  /** How many source bytes a stream must hold back so no match can straddle a release point. */
  get holdback(): number {
    return this.#maxSpan * MAX_TOKEN_BYTES + DECODER_LOOKAHEAD;
  }

  #insert(value: string, form: number, f: Form): number {
    const id = this.#freeNeedles.pop() ?? this.#needles.length;
    const length = f.bytes.length;
    this.#needles[id] = { value, form, length, extendBefore: f.extendBefore, extendAfter: f.extendAfter };
    for (const back of this.#backs(length)) {
      const { hi, lo } = anchorWords(f.bytes, back);
      const table = length >= SPARSE_MIN ? this.sparse : this.dense;
      table.set(hi, lo, this.anchors.allocate(id, back, table.find(hi, lo)));
      if (table === this.sparse) this.tags.add(hi, lo);
    }
    this.#countSpan(length + f.extendBefore + f.extendAfter, 1);
    return id;
  }

  #backs(length: number): number[] {
    return length >= SPARSE_MIN ? Array.from({ length: STRIDE }, (_, i) => i) : [0];
  }

  #unlink(id: number, bytes: Buffer): void {
    const needle = this.#needles[id]!;
    const table = needle.length >= SPARSE_MIN ? this.sparse : this.dense;
    for (const back of this.#backs(needle.length)) {
      const { hi, lo } = anchorWords(bytes, back);
      const anchors = this.anchors;
      let prev = -1;
      for (let a = table.find(hi, lo); a !== -1; prev = a, a = anchors.next[a]!) {
        if (anchors.needle[a] !== id || anchors.back[a] !== back) continue;
        if (prev === -1) table.set(hi, lo, anchors.next[a]!);
        else anchors.next[prev] = anchors.next[a]!;
        anchors.release(a);
        if (table === this.sparse) this.tags.removed();
        break;
      }
    }
    this.#freeNeedles.push(id);
    this.#countSpan(needle.length + needle.extendBefore + needle.extendAfter, -1);
  }

  /** Tags cannot be taken out one by one (a slot may be shared): rebuild once enough of them are stale. */
  #rebuildTags(): void {
    this.tags.clear();
    this.sparse.forEachAnchor((hi, lo) => this.tags.add(hi, lo));
  }

  #countSpan(span: number, delta: number): void {
    const count = (this.#spans.get(span) ?? 0) + delta;
    if (count > 0) this.#spans.set(span, count);
    else this.#spans.delete(span);
    if (delta > 0 && span > this.#maxSpan) this.#maxSpan = span;
    if (delta < 0 && count <= 0 && span === this.#maxSpan) this.#maxSpan = Math.max(0, ...this.#spans.keys());
  }
}
