import { Transform, type TransformCallback } from 'node:stream';
import { type DeadlineQueue, deadlinesFor, type ReleaseClock, releaseOnArrival } from '../scrub/deadlines.js';
import type { NeedleIndex } from '../scrub/index.js';
import { StreamScrubber, type StreamScrubberOptions } from '../scrub/stream.js';

export interface ScrubStreamOptions extends StreamScrubberOptions {
  /** Every byte leaves at most this long after it arrived; 0 releases everything on arrival (no window). */
  readonly flushAfterMs: number;
  readonly clock?: ReleaseClock;
}

/**
 * A streaming scrubber as a Transform, with the same release rule as the response sink (gateway/pipeline/lib/
 * scrub-sink.ts): on each chunk, all but the window; at each chunk's deadline, that chunk; at the end, the rest.
 * Used where bytes go to a stream rather than a response (a relayed WebSocket refusal, tests).
 */
export class ScrubStream extends Transform {
  readonly #scrubber: StreamScrubber;
  readonly #deadlines: DeadlineQueue | undefined;

  constructor(index: NeedleIndex, options: ScrubStreamOptions) {
    super();
    this.#scrubber = new StreamScrubber(index, options);
    this.#deadlines = deadlinesFor(options, (upTo) => this.#release(upTo));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#scrubber.push(chunk);
    this.#release(releaseOnArrival(this.#scrubber, this.#deadlines));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#deadlines?.cancel();
    const last = this.#scrubber.end();
    callback(null, last.length > 0 ? last : undefined);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#deadlines?.cancel();
    callback(error);
  }

  #release(upTo: number): void {
    const out = this.#scrubber.take(upTo);
    if (out.length > 0) this.push(out);
  }
}
