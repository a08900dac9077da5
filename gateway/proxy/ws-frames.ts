import { Transform, type TransformCallback } from 'node:stream';
import { type DeadlineQueue, deadlinesFor, type ReleaseClock, releaseOnArrival } from '../scrub/deadlines.js';
import type { NeedleIndex } from '../scrub/index.js';
import { StreamScrubber, scrubBytes } from '../scrub/stream.js';

const CONTINUATION = 0x0;
const FIN = 0x80;
const CLOSE = 0x8;
const EMPTY = Buffer.alloc(0);

/** The head of one frame (RFC 6455 §5.2), once all of it has arrived. */
interface FrameHead {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly length: number;
  readonly size: number;
}

function parseHead(buf: Buffer): FrameHead | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  const len7 = b1 & 0x7f;
  const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const masked = (b1 & 0x80) !== 0;
  const size = 2 + extra + (masked ? 4 : 0);
  if (buf.length < size) return undefined;
  let length = len7;
  if (len7 === 126) length = buf.readUInt16BE(2);
  else if (len7 === 127) length = Number(buf.readBigUInt64BE(2));
  return { fin: (b0 & FIN) !== 0, rsv: b0 & 0x70, opcode: b0 & 0x0f, masked, length, size };
}

/** An unmasked server-to-client frame. */
export function encodeFrame(fin: boolean, opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = Buffer.alloc(n < 126 ? 2 : n < 65_536 ? 4 : 10);
  head[0] = (fin ? FIN : 0) | opcode;
  if (n < 126) head[1] = n;
  else if (n < 65_536) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/** A data message of the upstream's, as far as its bytes have been seen: where it ends once its FIN arrived. */
interface Message {
  readonly opcode: number;
  /** Stream offset just past its last payload byte, once known. */
  end: number | undefined;
  /** Whether its first frame has gone out (later ones are continuations). */
  started: boolean;
}

export interface WebSocketScrubberOptions {
  /** Every payload byte leaves at most this long after it arrived (the time half of the release rule). */
  readonly flushAfterMs: number;
  readonly clock?: ReleaseClock;
}

/**
 * Scrubs the frames an upstream WebSocket server sends, without buffering whole messages. The payloads of all data
 * messages are one byte stream for the scrubber, so a secret split over fragments or over messages is still
 * masked; the stream is released by the same rule as an HTTP body (all but the window on arrival, each byte at its
 * deadline, the rest at the end or before a close frame) and re-framed: one frame per message per release, FIN on
 * the frame that carries a message's last byte. Frame sizes and FIN bits therefore follow the upstream's sizes,
 * timing and message boundaries, never what matched. RFC 6455 §5.4 lets an intermediary re-fragment when no
 * extension is negotiated, and Escrow never lets one be. Control frames (≤ 125 bytes) are scrubbed whole and sent
 * on arrival. Masked or RSV-marked (compressed) frames cannot be scrubbed: the stream fails, both sides close.
 */
export class WebSocketScrubber extends Transform {
  readonly #index: NeedleIndex;
  readonly #scrubber: StreamScrubber;
  readonly #deadlines: DeadlineQueue | undefined;
  #pending: Buffer = EMPTY;
  #head: FrameHead | undefined;
  #remaining = 0;
  #control: Buffer[] = [];
  readonly #messages: Message[] = [];

  constructor(index: NeedleIndex, options: WebSocketScrubberOptions) {
    super();
    this.#index = index;
    this.#scrubber = new StreamScrubber(index);
    this.#deadlines = deadlinesFor(options, (upTo) => this.#release(upTo));
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    // Whatever throws fails this stream (the relay is cut), never the process.
    try {
      this.#transform(chunk, encoding, callback);
    } catch (error) {
      callback(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let input = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = EMPTY;
    while (input.length > 0) {
      if (!this.#head) {
        const head = parseHead(input);
        if (!head) break;
        if (head.masked || head.rsv !== 0) {
          callback(new Error('upstream WebSocket frame cannot be scrubbed (masked or compressed)'));
          return;
        }
        this.#startFrame(head);
        input = input.subarray(head.size);
      }
      const take = Math.min(this.#remaining, input.length);
      this.#payload(input.subarray(0, take));
      this.#remaining -= take;
      input = input.subarray(take);
      if (this.#remaining === 0) this.#endFrame();
    }
    this.#pending = Buffer.from(input);
    this.#release(releaseOnArrival(this.#scrubber, this.#deadlines));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#deadlines?.cancel();
    try {
      this.#releaseAll();
    } catch (error) {
      callback(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#deadlines?.cancel();
    callback(error);
  }

  #startFrame(head: FrameHead): void {
    this.#head = head;
    this.#remaining = head.length;
    if (head.opcode !== CONTINUATION && head.opcode < CLOSE) {
      this.#messages.push({ opcode: head.opcode, end: undefined, started: false });
    }
  }

  #payload(bytes: Buffer): void {
    if (this.#head!.opcode >= CLOSE) this.#control.push(Buffer.from(bytes));
    else this.#scrubber.push(Buffer.from(bytes));
  }

  #endFrame(): void {
    const head = this.#head!;
    this.#head = undefined;
    if (head.opcode < CLOSE) {
      const open = this.#messages.at(-1);
      if (head.fin && open && open.end === undefined) open.end = this.#scrubber.received;
      // A FIN whose message was already wholly released (an empty last fragment) needs no window.
      if (head.fin) this.#release(this.#scrubber.released);
      return;
    }
    // Everything held goes out before a close frame (the stream stays open: an upstream may still send data after
    // it, which is scanned like any other); pings and pongs go out as they come.
    if (head.opcode === CLOSE) {
      this.#deadlines?.cancel();
      this.#emit(this.#scrubber.flush());
    }
    const payload = scrubBytes(this.#index, Buffer.concat(this.#control));
    this.#control = [];
    this.push(encodeFrame(head.fin, head.opcode, payload));
  }

  #releaseAll(): void {
    this.#deadlines?.cancel();
    this.#emit(this.#scrubber.end());
  }

  #release(upTo: number): void {
    this.#emit(this.#scrubber.take(upTo));
  }

  /** Frame released bytes (which start at the first unfinished message), one frame per message. */
  #emit(out: Buffer): void {
    const released = this.#scrubber.released;
    let offset = released - out.length;
    let rest = out;
    for (let message = this.#messages[0]; message !== undefined; message = this.#messages[0]) {
      const end = message.end ?? Number.POSITIVE_INFINITY;
      const n = Math.min(rest.length, end - offset);
      const fin = offset + n === end;
      if (n === 0 && !fin) return;
      this.push(encodeFrame(fin, message.started ? CONTINUATION : message.opcode, rest.subarray(0, n)));
      message.started = true;
      rest = rest.subarray(n);
      offset += n;
      if (!fin) return;
      this.#messages.shift();
    }
  }
}
