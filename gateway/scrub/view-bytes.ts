import type { ViewBytes } from './scanner.js';

/**
 * A reusable buffer of view bytes for one chunk: a view (decoded, SSE) appends what it produces from a source chunk,
 * then hands the lot to its scanner in one call.
 */
export class ViewBuffer implements ViewBytes {
  bytes = new Uint8Array(256);
  starts = new Float64Array(256);
  lens = new Uint8Array(256);
  length = 0;

  /** Make room for up to `n` bytes and start empty. */
  reset(n: number): void {
    this.length = 0;
    if (n <= this.bytes.length) return;
    let size = this.bytes.length;
    while (size < n) size *= 2;
    this.bytes = new Uint8Array(size);
    this.starts = new Float64Array(size);
    this.lens = new Uint8Array(size);
  }

  append(byte: number, start: number, len: number): void {
    const i = this.length++;
    this.bytes[i] = byte;
    this.starts[i] = start;
    this.lens[i] = len;
  }
}
