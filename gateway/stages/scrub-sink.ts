import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { scrubChunk } from '../proxy/scrub.js';

const EMPTY = Buffer.alloc(0);

export interface ScrubSinkOptions {
  /**
   * Awaited right before the final `res.end()`: the answer completes only once it resolves. If it rejects, the
   * response is cut instead (the agent never gets its last bytes). The audit log's group commit uses it.
   */
  readonly onFinal?: () => Promise<void>;
  /**
   * The answer's Content-Length, when it has one. Such an answer is whole once its last byte arrives, before
   * `end()`: that byte is kept back until `onFinal` resolves. (A chunked answer is whole only at `end()`.)
   */
  readonly contentLength?: number;
}

/**
 * The writable an identity-encoded upstream body goes to: each chunk is scrubbed (the same `scrubChunk` as
 * `ScrubStream`, so a secret split over chunks is still caught) and written straight into the agent's response.
 * This replaces `pipeline(new ScrubStream(), res)` on the hot path: no readable side, no pipeline bookkeeping and
 * no AbortController/DOMException per response (~7% of Escrow's CPU per request, docs/performance.md).
 * Backpressure holds: a chunk is acknowledged only once `res` has taken it. If the agent goes away, the write
 * fails and undici (which owns this sink) aborts the upstream request.
 */
export class ScrubSink extends Writable {
  readonly #res: ServerResponse;
  readonly #needles: readonly Buffer[];
  readonly #onFinal: (() => Promise<void>) | undefined;
  /** Bytes still to be passed on before the last one of a Content-Length answer (-1: no length, nothing held). */
  #left: number;
  #carry: Buffer = EMPTY;

  constructor(res: ServerResponse, needles: readonly Buffer[], options: ScrubSinkOptions = {}) {
    super();
    this.#res = res;
    this.#needles = needles;
    this.#onFinal = options.onFinal;
    this.#left = options.onFinal && options.contentLength !== undefined ? options.contentLength : -1;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let { ready, carry } = scrubChunk(this.#carry, chunk, this.#needles);
    if (this.#left >= 0) {
      this.#left -= ready.length;
      if (this.#left === 0 && carry.length === 0 && ready.length > 0) {
        // The last byte of a Content-Length answer: kept back until onFinal resolves.
        carry = Buffer.from(ready.subarray(ready.length - 1));
        ready = ready.subarray(0, ready.length - 1);
      }
    }
    this.#carry = carry;
    if (ready.length === 0 || this.#res.write(ready)) callback();
    else this.#waitForDrain(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#onFinal) {
      this.#end(callback);
      return;
    }
    this.#onFinal().then(
      () => this.#end(callback),
      (error: Error) => callback(error),
    );
  }

  #end(callback: (error?: Error | null) => void): void {
    const res = this.#res;
    if (res.destroyed) {
      callback(new Error('the agent closed the connection'));
      return;
    }
    if (this.#carry.length > 0) res.end(this.#carry);
    else res.end();
    this.#carry = EMPTY;
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error && !this.#res.writableEnded) this.#res.destroy();
    callback(error);
  }

  #waitForDrain(callback: (error?: Error | null) => void): void {
    const res = this.#res;
    const onDrain = () => {
      res.off('close', onClose);
      callback();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      callback(new Error('the agent closed the connection'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  }
}
