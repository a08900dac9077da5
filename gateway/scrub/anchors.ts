/**
 * An open-addressed hash table from an anchor (the last 4 or 8 bytes of a needle, as two 32-bit words) to the
 * head of a chain of needle ids. A probe that misses reads one slot, and the table's size follows the number of
 * anchors only, so the cost per scanned byte stays flat as needles are added (gateway/scrub/index.ts).
 */

const EMPTY = 0;

/** A table's storage; `head` holds needle id + 1, 0 for a free slot, -1 for a removed anchor. */
export interface AnchorArrays {
  readonly hi: Int32Array;
  readonly lo: Int32Array;
  readonly head: Int32Array;
  readonly mask: number;
}
const TOMBSTONE = -1;

/** Spreads the two words over the table; any decent mix will do, the table is verified on every hit. */
export function anchorHash(hi: number, lo: number): number {
  const h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  return h ^ (h >>> 16); // ViewScanner.scanSource computes the same inline
}

export class AnchorTable {
  #hi: Int32Array;
  #lo: Int32Array;
  /** Chain head: needle id + 1; EMPTY for a free slot, TOMBSTONE for a slot whose chain emptied. */
  #head: Int32Array;
  #mask: number;
  #used = 0;
  #live = 0;

  constructor(capacity = 16) {
    this.#hi = new Int32Array(capacity);
    this.#lo = new Int32Array(capacity);
    this.#head = new Int32Array(capacity);
    this.#mask = capacity - 1;
  }

  get size(): number {
    return this.#live;
  }

  /**
   * The arrays themselves, for a scan loop that probes inline (a method call per byte costs more than the probe).
   * Valid until the next `set`: a scan runs synchronously and never adds a needle.
   */
  arrays(): AnchorArrays {
    return { hi: this.#hi, lo: this.#lo, head: this.#head, mask: this.#mask };
  }

  /** The chain head for an anchor, or -1. This is the only call made for every scanned byte. */
  find(hi: number, lo: number): number {
    const mask = this.#mask;
    let i = anchorHash(hi, lo) & mask;
    for (;;) {
      const head = this.#head[i]!;
      if (head === EMPTY) return -1;
      if (head !== TOMBSTONE && this.#lo[i] === lo && this.#hi[i] === hi) return head - 1;
      i = (i + 1) & mask;
    }
  }

  /** Set the chain head of an anchor (-1 removes the anchor). */
  set(hi: number, lo: number, id: number): void {
    if (id >= 0 && (this.#used + 1) * 2 > this.#head.length) this.#rehash(this.#live * 2 + 2 > this.#head.length);
    const mask = this.#mask;
    let i = anchorHash(hi, lo) & mask;
    let free = -1;
    for (;;) {
      const head = this.#head[i]!;
      if (head === EMPTY) break;
      if (head === TOMBSTONE) {
        if (free === -1) free = i;
      } else if (this.#lo[i] === lo && this.#hi[i] === hi) {
        if (id >= 0) this.#head[i] = id + 1;
        else {
          this.#head[i] = TOMBSTONE;
          this.#live--;
        }
        return;
      }
      i = (i + 1) & mask;
    }
    if (id < 0) return;
    const at = free === -1 ? i : free;
    if (free === -1) this.#used++;
    this.#hi[at] = hi;
    this.#lo[at] = lo;
    this.#head[at] = id + 1;
    this.#live++;
  }

  /** Call `fn` with the words of every anchor in the table. */
  forEachAnchor(fn: (hi: number, lo: number) => void): void {
    for (let i = 0; i < this.#head.length; i++) if (this.#head[i]! > 0) fn(this.#hi[i]!, this.#lo[i]!);
  }

  /** Rebuild without tombstones; grow when the live anchors alone fill half the table. */
  #rehash(grow: boolean): void {
    const hi = this.#hi;
    const lo = this.#lo;
    const head = this.#head;
    const capacity = grow ? head.length * 2 : head.length;
    this.#hi = new Int32Array(capacity);
    this.#lo = new Int32Array(capacity);
    this.#head = new Int32Array(capacity);
    this.#mask = capacity - 1;
    this.#used = 0;
    this.#live = 0;
    for (let i = 0; i < head.length; i++) {
      if (head[i]! > 0) this.set(hi[i]!, lo[i]!, head[i]! - 1);
    }
  }
}
