import { Transform, type TransformCallback } from 'node:stream';
import { maskInPlace, scrubChunk } from './scrub.js';

const CONTINUATION = 0x0;
const FIN = 0x80;
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

/**
 * Scrubs the frames an upstream WebSocket server sends, without buffering whole messages. A data message is
 * scrubbed as one byte stream across its fragments and re-framed as it goes (RFC 6455 §5.4 lets an
 * intermediary re-fragment when no extension is negotiated; Escrow never lets one be), so a secret split
 * over two fragments is still masked. Control frames (≤ 125 bytes) are scrubbed whole. Masked or RSV-marked
 * (compressed) frames cannot be scrubbed: the stream fails and both sides are closed.
 */
export class WebSocketScrubber extends Transform {
  readonly #needles: readonly Buffer[];
  #pending: Buffer = EMPTY;
  #head: FrameHead | undefined;
  #remaining = 0;
  #control: Buffer[] = [];
  #messageOpcode: number | undefined;
  #carry: Buffer = EMPTY;

  constructor(needles: readonly Buffer[]) {
    super();
    this.#needles = needles;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
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
        this.#head = head;
        this.#remaining = head.length;
        if (head.opcode !== CONTINUATION && head.opcode < 0x8) this.#messageOpcode = head.opcode;
        input = input.subarray(head.size);
      }
      const take = Math.min(this.#remaining, input.length);
      this.#payload(input.subarray(0, take));
      this.#remaining -= take;
      input = input.subarray(take);
      if (this.#remaining === 0) this.#endFrame();
    }
    this.#pending = Buffer.from(input);
    callback();
  }

  #payload(bytes: Buffer): void {
    const head = this.#head!;
    if (head.opcode >= 0x8) {
      this.#control.push(Buffer.from(bytes));
      return;
    }
    const { ready, carry } = scrubChunk(this.#carry, bytes, this.#needles);
    this.#carry = carry;
    if (ready.length > 0) this.#emit(false, ready);
  }

  #endFrame(): void {
    const head = this.#head!;
    this.#head = undefined;
    if (head.opcode >= 0x8) {
      const payload = Buffer.concat(this.#control);
      this.#control = [];
      maskInPlace(payload, this.#needles);
      this.push(encodeFrame(head.fin, head.opcode, payload));
      return;
    }
    if (!head.fin) return;
    this.#emit(true, this.#carry);
    this.#carry = EMPTY;
    this.#messageOpcode = undefined;
  }

  /** The first frame of a message carries its opcode; later ones are continuations. */
  #emit(fin: boolean, payload: Buffer): void {
    const opcode = this.#messageOpcode ?? CONTINUATION;
    this.push(encodeFrame(fin, opcode, payload));
    this.#messageOpcode = CONTINUATION;
  }
}
