import { anchorHash } from './anchors.js';

/**
 * 4 MiB: one byte per slot. Fixed, so a probe touches the same memory whatever the number of needles; big enough that
 * 10 000 leases (about a million anchors) leave most slots empty and few shared.
 */
const SLOT_BITS = 22;
const SHARED = 0xff;
/** Shift that takes a hash to its slot (its top SLOT_BITS bits). */
export const TAG_SHIFT = 32 - SLOT_BITS;

/** The tag a hash leaves in its slot: 7 bits of it, never 0 (empty) nor SHARED. */
function tagOf(hash: number): number {
  return (hash & 0x7e) | 1;
}

/** The slot of a hash: its top bits (AnchorTable uses the low ones). */
function slotOf(hash: number): number {
  return hash >>> TAG_SHIFT;
}

/**
 * A first-level filter in front of the sparse anchor table: per slot, the tag of the anchor there (SHARED when two
 * anchors share the slot). A probe whose slot holds another tag, or nothing, is a miss without touching the table;
 * a stale tag only costs a table lookup, so removals just count and the index rebuilds the filter now and then.
 */
export class TagFilter {
  readonly slots = new Uint8Array(1 << SLOT_BITS);
  #stale = 0;

  add(hi: number, lo: number): void {
    const h = anchorHash(hi, lo);
    const slot = slotOf(h);
    const tag = tagOf(h);
    const current = this.slots[slot]!;
    this.slots[slot] = current === 0 || current === tag ? tag : SHARED;
  }

  /** An anchor left the table; its tag stays until the next rebuild. */
  removed(): void {
    this.#stale++;
  }

  get stale(): number {
    return this.#stale;
  }

  clear(): void {
    this.slots.fill(0);
    this.#stale = 0;
  }
}
