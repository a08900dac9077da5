import type { Duplex } from 'node:stream';
import { EscrowError } from '../errors.js';

/** PostgreSQL's own cap on a startup packet (MAX_STARTUP_PACKET_LENGTH): nothing legitimate is larger. */
export const MAX_STARTUP_BYTES = 10_000;

function tooLarge(what: string): EscrowError {
  return new EscrowError('payload_too_large', `${what} is too large`, { reason: 'protocol_violation' });
}

/**
 * Reads the client's first messages (startup packets, the password message) from a socket, one at a time and
 * bounded in size, before anything is relayed. Bytes beyond the message asked for stay buffered: `detach()`
 * hands them over (a client may pipeline its first query behind the password).
 */
export class FrameReader {
  readonly #socket: Duplex;
  #buffer: Buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #closed = false;
  readonly #onData = (chunk: Buffer) => {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    this.#wake?.();
  };
  readonly #onEnd = () => {
    this.#closed = true;
    this.#wake?.();
  };

  constructor(socket: Duplex) {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  /** Bytes received but not read yet. */
  get buffered(): number {
    return this.#buffer.length;
  }

  async #need(bytes: number): Promise<void> {
    while (this.#buffer.length < bytes) {
      if (this.#closed) throw new EscrowError('bad_request', 'the client closed the connection', { reason: 'eof' });
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  #take(bytes: number): Buffer {
    const out = this.#buffer.subarray(0, bytes);
    this.#buffer = this.#buffer.subarray(bytes);
    return out;
  }

  /** A startup-phase packet (`int32 length` then the body, no type byte): returns the body. */
  async startupPacket(): Promise<Buffer> {
    await this.#need(4);
    const length = this.#buffer.readInt32BE(0);
    if (length < 8)
      throw new EscrowError('bad_request', 'invalid startup packet length', { reason: 'protocol_violation' });
    if (length > MAX_STARTUP_BYTES) throw tooLarge('the startup packet');
    await this.#need(length);
    return this.#take(length).subarray(4);
  }

  /** A typed message (`byte type`, `int32 length`, body) of at most `maxBytes`: returns its type and body. */
  async message(maxBytes: number): Promise<{ type: string; body: Buffer }> {
    await this.#need(5);
    const type = String.fromCharCode(this.#buffer[0]!);
    const length = this.#buffer.readInt32BE(1);
    if (length < 4) throw new EscrowError('bad_request', 'invalid message length', { reason: 'protocol_violation' });
    if (length > maxBytes) throw tooLarge('the message');
    await this.#need(1 + length);
    return { type, body: this.#take(1 + length).subarray(5) };
  }

  /** Stop reading: the socket is paused and the bytes already received are returned. */
  detach(): Buffer {
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onEnd);
    this.#socket.pause();
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }
}

/**
 * Splits a stream of backend messages into whole messages as bytes arrive (for the upstream handshake, where
 * Escrow reads each one). `push` returns the messages completed by `chunk`; `rest()` what is left over.
 */
export class MessageSplitter {
  #buffer: Buffer = Buffer.alloc(0);

  constructor(readonly maxBytes: number) {}

  push(chunk: Buffer): Buffer[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: Buffer[] = [];
    while (this.#buffer.length >= 5) {
      const length = this.#buffer.readInt32BE(1);
      if (length < 4 || length > this.maxBytes) throw tooLarge('a message from the database server');
      if (this.#buffer.length < 1 + length) break;
      out.push(this.#buffer.subarray(0, 1 + length));
      this.#buffer = this.#buffer.subarray(1 + length);
    }
    return out;
  }

  rest(): Buffer {
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }
}
