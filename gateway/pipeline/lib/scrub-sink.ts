import { Writable } from 'node:stream';
import { EscrowError } from '../../errors.js';
import type { DirectBody } from '../../proxy/forward.js';
import { type DeadlineQueue, deadlinesFor, type ReleaseClock, releaseOnArrival } from '../../scrub/deadlines.js';
import type { StreamScrubber } from '../../scrub/stream.js';

/** Where scrubbed bytes go: an agent's ServerResponse, or its raw socket (a relayed WebSocket refusal). */
export interface ScrubTarget {
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): unknown;
  destroy(): unknown;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

export interface ScrubSinkOptions {
  readonly scrubber: StreamScrubber;
  /** Every byte is released at most this long after it arrived (the time half of the release rule). */
  readonly flushAfterMs: number;
  readonly clock?: ReleaseClock;
  /**
   * Awaited right before the final `end()`, unless the agent has gone away (the request's audit event: the
   * answer completes only once it resolves; if it rejects, the response is cut instead).
   */
  readonly onFinal?: () => Promise<void>;
  /**
   * The answer's Content-Length, when it has one. Such an answer is whole once its last byte arrives, before
   * `end()`: with `onFinal`, that byte is kept back until `onFinal` resolves. (A chunked answer is whole only at
   * `end()`.) Content-independent, like every other release rule.
   */
  readonly contentLength?: number;
  /** Most body bytes accepted (a decompressed body's bound); past it the sink fails with `response_too_large`. */
  readonly maxBytes?: number;
  /** Told at once when the body passes `maxBytes` (the sink then fails with the same error). */
  readonly onRefused?: (error: EscrowError) => void;
  /** Writes the response head; called once, right before the first bytes go out (a lazily sent head). */
  readonly head?: () => void;
}

/**
 * Where an upstream body's bytes go on their way to the agent: each chunk is scanned and held by the stream's
 * scrubber; what the release rule frees goes into the agent's response: on arrival, everything but the last
 * `holdback` bytes; at each chunk's deadline, that chunk; at the end, the rest. Each release is one write, so HTTP
 * chunk sizes and write timing are a function of the upstream's sizes and timing alone (docs/security.md, "No side
 * channel"). No stream of its own: undici's dispatch handler (proxy/forward.ts) pushes into it directly, and
 * `ScrubSink` wraps it as a Writable where a pipeline (a decoder, an MCP filter, a WebSocket) needs one.
 */
export class ScrubRelease implements DirectBody {
  readonly #res: ScrubTarget;
  readonly #o: ScrubSinkOptions;
  readonly #deadlines: DeadlineQueue | undefined;
  #bytes = 0;
  #headSent = false;
  /** Where a Content-Length answer's last byte starts: released only by `finish`, after `onFinal`. */
  readonly #lastByteAt: number;

  constructor(res: ScrubTarget, options: ScrubSinkOptions) {
    this.#res = res;
    this.#o = options;
    const held = options.onFinal !== undefined && options.contentLength !== undefined && options.contentLength > 0;
    this.#lastByteAt = held ? options.contentLength! - 1 : Number.POSITIVE_INFINITY;
    this.#deadlines = deadlinesFor(options, (upTo) => this.#release(upTo));
  }

  /**
   * Take one chunk. False when the response asks to wait for its `drain` before the next one. Throws
   * `response_too_large` (after telling `onRefused`) once the body passes `maxBytes`.
   */
  push(chunk: Buffer): boolean {
    this.#bytes += chunk.length;
    if (this.#o.maxBytes !== undefined && this.#bytes > this.#o.maxBytes) {
      const error = new EscrowError('upstream_error', 'the upstream response is too large', {
        reason: 'response_too_large',
      });
      this.#o.onRefused?.(error);
      throw error;
    }
    const scrubber = this.#o.scrubber;
    scrubber.push(chunk);
    // A Content-Length answer whose last byte waits for `onFinal` anyway is whole now: it goes out in `finish` as one
    // write (one syscall) rather than all but its tail now and the tail after `onFinal`. Sizes alone decide this.
    // Its bytes keep their deadlines (nothing was released), so a slow `onFinal` still lets them out in time.
    if (this.#bytes === this.#lastByteAt + 1) {
      this.#deadlines?.arrived(scrubber.received, scrubber.released);
      return true;
    }
    return this.#release(releaseOnArrival(scrubber, this.#deadlines));
  }

  /** After the last chunk: the rest goes out, once `onFinal` resolved (rejects when the agent went away). */
  async finish(): Promise<void> {
    this.#deadlines?.cancel();
    const gone = () => new EscrowError('client_closed', 'the agent closed the connection');
    if (this.#res.destroyed) throw gone();
    const last = this.#o.scrubber.end();
    if (this.#o.onFinal) await this.#o.onFinal();
    if (this.#res.destroyed) throw gone();
    this.#sendHead();
    if (last.length > 0) this.#res.end(last);
    else this.#res.end();
  }

  /** Calls `resume` once the response took what a `push` that returned false released. */
  whenDrained(resume: () => void): void {
    this.#res.once('drain', resume);
  }

  /** The body failed or was abandoned: no more releases; an answer whose head went out is cut. */
  abort(error: Error | null): void {
    this.#deadlines?.cancel();
    // A head still unsent (a decoded body refused early) leaves the response to the pipeline: a 502 problem.
    const headOut = this.#o.head === undefined || this.#headSent;
    if (error && headOut && !this.#res.writableEnded) this.#res.destroy();
  }

  /** Write what is released up to `upTo`; false when the response asks to wait for `drain`. */
  #release(upTo: number): boolean {
    const out = this.#o.scrubber.take(Math.min(upTo, this.#lastByteAt));
    if (out.length === 0 || this.#res.destroyed) return true;
    this.#sendHead();
    return this.#res.write(out);
  }

  #sendHead(): void {
    if (this.#headSent) return;
    this.#headSent = true;
    this.#o.head?.();
  }
}

/**
 * A ScrubRelease as a Writable, for what pipes into it (a decoder, an MCP filter, a relayed WebSocket answer).
 * Backpressure holds: a chunk is acknowledged once the response took what it released. If the agent goes away,
 * the write fails and whoever owns this sink aborts the upstream.
 */
export class ScrubSink extends Writable {
  readonly #res: ScrubTarget;
  readonly #release: ScrubRelease;

  constructor(res: ScrubTarget, options: ScrubSinkOptions) {
    super();
    this.#res = res;
    this.#release = new ScrubRelease(res, options);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let ready: boolean;
    try {
      ready = this.#release.push(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (ready) callback();
    else this.#waitForDrain(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    void this.#release.finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#release.abort(error);
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
      callback(new EscrowError('client_closed', 'the agent closed the connection'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  }
}
