import type { ViewBytes, ViewScanner } from './scanner.js';
import { EMPTY_BYTES, EMPTY_FLOATS, type Scratch } from './scratch.js';

/**
 * A reusable buffer of view bytes for one chunk: a view (decoded, SSE) appends what it produces from a source chunk,
 * then hands the lot to its scanner in one call.
 */
export class ViewBuffer implements ViewBytes {
  readonly #scratch: Scratch;
  bytes: Uint8Array;
  starts: Float64Array;
  lens: Uint8Array;
  length = 0;

  constructor(scratch: Scratch) {
    this.#scratch = scratch;
    this.bytes = scratch.bytes(256);
    this.starts = scratch.floats(256);
    this.lens = scratch.bytes(256);
  }

  /** Make room for up to `n` bytes and start empty. */
  reset(n: number): void {
    if (this.bytes.length === 0) throw new Error('a view buffer was used after its stream ended');
    this.length = 0;
    if (n <= this.bytes.length) return;
    let size = this.bytes.length;
    while (size < n) size *= 2;
    this.release();
    this.bytes = this.#scratch.bytes(size);
    this.starts = this.#scratch.floats(size);
    this.lens = this.#scratch.bytes(size);
  }

  /** Give the arrays back (the stream ended, or `reset` replaces them); the buffer is empty and unusable after. */
  release(): void {
    this.length = 0;
    this.#scratch.give(this.bytes);
    this.#scratch.give(this.starts);
    this.#scratch.give(this.lens);
    this.bytes = EMPTY_BYTES;
    this.starts = EMPTY_FLOATS;
    this.lens = EMPTY_BYTES;
  }

  append(byte: number, start: number, len: number): void {
    const i = this.length++;
    this.bytes[i] = byte;
    this.starts[i] = start;
    this.lens[i] = len;
  }
}

/** A view a scanner reads through (decoded, SSE): the bytes it produces go through `out` to `scanner`. */
export abstract class ScannedView {
  protected readonly scanner: ViewScanner;
  protected readonly out: ViewBuffer;

  constructor(scanner: ViewScanner) {
    this.scanner = scanner;
    this.out = new ViewBuffer(scanner.scratch);
  }

  /** The stream ended (after the view's last bytes were scanned): its arrays and its scanner's go back. */
  release(): void {
    this.out.release();
    this.scanner.release();
  }
}
