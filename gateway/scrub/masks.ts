const STAR = 0x2a;
const CR = 0x0d;
const LF = 0x0a;

/**
 * The source ranges of one stream that must be masked, in absolute stream offsets. Ranges arrive roughly in
 * order (a match is reported when its last byte is scanned); contiguous ones are merged. Applying them fills `*`
 * over every byte except CR and LF, so a masked wrapped base64 text keeps its lines and every length stays true.
 */
export class MaskSet {
  #starts: number[] = [];
  #ends: number[] = [];

  add(start: number, end: number): void {
    const n = this.#starts.length;
    if (n > 0 && start <= this.#ends[n - 1]! && start >= this.#starts[n - 1]!) {
      if (end > this.#ends[n - 1]!) this.#ends[n - 1] = end;
      return;
    }
    this.#starts.push(start);
    this.#ends.push(end);
  }

  /** Mask `out`, which holds stream bytes [from, from + out.length), and forget ranges that end before it does. */
  apply(out: Buffer, from: number): void {
    if (this.#starts.length === 0) return;
    const to = from + out.length;
    const starts: number[] = [];
    const ends: number[] = [];
    for (let r = 0; r < this.#starts.length; r++) {
      const start = this.#starts[r]!;
      const end = this.#ends[r]!;
      const a = Math.max(start, from);
      const b = Math.min(end, to);
      for (let i = a; i < b; i++) {
        const byte = out[i - from]!;
        if (byte !== CR && byte !== LF) out[i - from] = STAR;
      }
      if (end > to) {
        starts.push(start);
        ends.push(end);
      }
    }
    this.#starts = starts;
    this.#ends = ends;
  }

  get size(): number {
    return this.#starts.length;
  }
}
