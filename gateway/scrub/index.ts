import { AnchorTable } from './anchors.js';
import { type Form, formsOf } from './forms.js';

/** Longest source span of one decoded byte in the decoded view (`&#0000047;`), and the decoder's look-ahead. */
export const MAX_TOKEN_BYTES = 10;
export const DECODER_LOOKAHEAD = 12;

/** One needle: which value it belongs to, which of that value's forms it is, and its shape. */
export interface Needle {
  readonly value: string;
  readonly form: number;
  readonly length: number;
  readonly extendBefore: number;
  readonly extendAfter: number;
  /** Next needle id with the same anchor, or -1. */
  next: number;
  alive: boolean;
}

interface Entry {
  refs: number;
  readonly ids: number[];
}

function anchorWords(bytes: Buffer): { hi: number; lo: number } {
  const n = bytes.length;
  const lo = bytes.readInt32BE(n - 4);
  return { hi: n >= 8 ? bytes.readInt32BE(n - 8) : 0, lo };
}

/**
 * Every needle this replica scrubs, for every secret value it holds. A value is added with a reference count
 * (the same static key may back ten thousand leases) and its needles leave when the last reference goes.
 * Lookups are by anchor: a needle of 8 bytes or more is found by its last 8 bytes, a shorter one by its last 4.
 * Adding and removing are synchronous, so a value is matched from the first byte scanned after `add` returns.
 */
export class NeedleIndex {
  readonly #entries = new Map<string, Entry>();
  readonly #needles: Needle[] = [];
  readonly #free: number[] = [];
  readonly long = new AnchorTable(1024);
  readonly short = new AnchorTable(16);
  /** How many live needles have each span (for the holdback and the history size). */
  readonly #spans = new Map<number, number>();
  #maxSpan = 0;
  /** The forms of the value last verified: a match is usually followed by more of the same value. */
  #recent: { value: string; forms: Form[] } | undefined;

  /** Add a reference to `value` (no-op for values too short to scrub). */
  add(value: string): void {
    const entry = this.#entries.get(value);
    if (entry) {
      entry.refs++;
      return;
    }
    const forms = formsOf(value);
    if (forms.length === 0) return;
    this.#entries.set(value, { refs: 1, ids: forms.map((form, i) => this.#insert(value, i, form)) });
  }

  /** Drop a reference to `value`; its needles go with the last one. */
  remove(value: string): void {
    const entry = this.#entries.get(value);
    if (!entry || --entry.refs > 0) return;
    this.#entries.delete(value);
    const forms = formsOf(value);
    for (const id of entry.ids) this.#unlink(id, forms[this.#needles[id]!.form]!.bytes);
  }

  has(value: string): boolean {
    return this.#entries.has(value);
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

  /**
   * The longest stretch of decoded bytes a match needs, extensions included: how much history a view keeps.
   */
  get maxSpan(): number {
    return this.#maxSpan;
  }

  /** How many source bytes a stream must hold back so no match can straddle a release point. */
  get holdback(): number {
    return this.#maxSpan * MAX_TOKEN_BYTES + DECODER_LOOKAHEAD;
  }

  #insert(value: string, form: number, f: Form): number {
    const id = this.#free.pop() ?? this.#needles.length;
    const table = f.bytes.length >= 8 ? this.long : this.short;
    const { hi, lo } = anchorWords(f.bytes);
    const head = table.find(hi, lo);
    this.#needles[id] = {
      value,
      form,
      length: f.bytes.length,
      extendBefore: f.extendBefore,
      extendAfter: f.extendAfter,
      next: head,
      alive: true,
    };
    table.set(hi, lo, id);
    this.#countSpan(f.bytes.length + f.extendBefore + f.extendAfter, 1);
    return id;
  }

  #unlink(id: number, bytes: Buffer): void {
    const needle = this.#needles[id]!;
    const table = needle.length >= 8 ? this.long : this.short;
    const { hi, lo } = anchorWords(bytes);
    let head = table.find(hi, lo);
    if (head === id) table.set(hi, lo, needle.next);
    else {
      while (head !== -1 && this.#needles[head]!.next !== id) head = this.#needles[head]!.next;
      if (head !== -1) this.#needles[head]!.next = needle.next;
    }
    needle.alive = false;
    this.#free.push(id);
    this.#countSpan(needle.length + needle.extendBefore + needle.extendAfter, -1);
  }

  #countSpan(span: number, delta: number): void {
    const count = (this.#spans.get(span) ?? 0) + delta;
    if (count > 0) this.#spans.set(span, count);
    else this.#spans.delete(span);
    if (delta > 0 && span > this.#maxSpan) this.#maxSpan = span;
    if (delta < 0 && count <= 0 && span === this.#maxSpan) this.#maxSpan = Math.max(0, ...this.#spans.keys());
  }
}
