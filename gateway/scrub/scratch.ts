/** How many free arrays of one size are kept; beyond that they are left to the garbage collector. */
const MAX_FREE_PER_SIZE = 256;

/** The arrays of a released buffer: empty, shared (nothing can be written into them). */
export const EMPTY_BYTES = new Uint8Array(0);
export const EMPTY_FLOATS = new Float64Array(0);

/**
 * Typed arrays that ended streams hand back to the next ones. Each stream's scanners and views hold a few small
 * arrays (history rings, view buffers); allocated per stream, as off-heap typed arrays, they cost more than
 * scanning a 1 KiB answer (bench/scrub.ts). A stream takes its arrays here and gives them back, zeroed, when it
 * ends: nothing of one stream is left in an array another one gets. Owned by the NeedleIndex (one per gateway).
 */
export class Scratch {
  readonly #bytes = new Map<number, Uint8Array[]>();
  readonly #floats = new Map<number, Float64Array[]>();

  bytes(n: number): Uint8Array {
    if (n === 0) return EMPTY_BYTES;
    return this.#bytes.get(n)?.pop() ?? new Uint8Array(n);
  }

  floats(n: number): Float64Array {
    if (n === 0) return EMPTY_FLOATS;
    return this.#floats.get(n)?.pop() ?? new Float64Array(n);
  }

  /** Take `array` back (once: the caller forgets it). */
  give(array: Uint8Array | Float64Array): void {
    if (array.length === 0) return;
    array.fill(0);
    const lists: Map<number, (Uint8Array | Float64Array)[]> =
      array instanceof Float64Array ? this.#floats : this.#bytes;
    let free = lists.get(array.length);
    if (free === undefined) {
      free = [];
      lists.set(array.length, free);
    }
    if (free.length < MAX_FREE_PER_SIZE) free.push(array);
  }
}
