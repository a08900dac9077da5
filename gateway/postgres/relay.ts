import type { Duplex } from 'node:stream';
import { Transform, type TransformCallback } from 'node:stream';
import { maskInPlace } from '../proxy/scrub.js';

/** An ErrorResponse or NoticeResponse larger than this ends the session rather than being held in memory. */
const MAX_HELD_MESSAGE = 8 * 1024 * 1024;

/**
 * Server → agent bytes, relayed as they come, message boundaries tracked from the 5-byte headers. The text
 * messages the server composes (ErrorResponse `E`, NoticeResponse `N`) are held whole and the lease's secret
 * masked in them (same length: framing stays intact); everything else passes without a copy. Knowing the
 * boundaries also lets Escrow end a session with its own ErrorResponse without cutting a message in half.
 */
export class BackendScrubber extends Transform {
  readonly #needles: readonly Buffer[];
  #header = Buffer.alloc(0);
  #remaining = 0;
  #held: Buffer[] | undefined;
  #heldBytes = 0;
  bytes = 0;

  constructor(needles: readonly Buffer[]) {
    super();
    this.#needles = needles;
  }

  /** True between two messages: a message of Escrow's own may be sent now. */
  get atBoundary(): boolean {
    return this.#remaining === 0 && this.#header.length === 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    try {
      let at = 0;
      while (at < chunk.length) at = this.#remaining === 0 ? this.#startMessage(chunk, at) : this.#continue(chunk, at);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  /** Read (part of) a header; once whole, start holding an E/N message or pass the header on. */
  #startMessage(chunk: Buffer, at: number): number {
    const next = this.#readHeader(chunk, at);
    if (this.#header.length < 5) return chunk.length;
    const type = this.#header[0];
    this.#remaining = this.#header.readInt32BE(1) - 4;
    if (this.#remaining < 0) throw new Error('invalid message length from the database server');
    this.#held = type === 0x45 || type === 0x4e ? [this.#header] : undefined;
    this.#heldBytes = this.#header.length;
    if (!this.#held) this.push(this.#header);
    this.#header = Buffer.alloc(0);
    if (this.#remaining === 0) this.#finish();
    return next;
  }

  /** The next piece of the current message's body. */
  #continue(chunk: Buffer, at: number): number {
    const piece = chunk.subarray(at, at + this.#remaining);
    this.#remaining -= piece.length;
    if (this.#held) {
      this.#held.push(piece);
      this.#heldBytes += piece.length;
      if (this.#heldBytes > MAX_HELD_MESSAGE) throw new Error('oversized notice from the database server');
    } else this.push(piece);
    if (this.#remaining === 0) this.#finish();
    return at + piece.length;
  }

  #readHeader(chunk: Buffer, at: number): number {
    const need = 5 - this.#header.length;
    const take = chunk.subarray(at, at + need);
    this.#header = this.#header.length === 0 ? Buffer.from(take) : Buffer.concat([this.#header, take]);
    return at + take.length;
  }

  #finish(): void {
    if (!this.#held) return;
    const whole = Buffer.concat(this.#held);
    maskInPlace(whole, this.#needles);
    this.#held = undefined;
    this.push(whole);
  }
}

/** How a relayed session ended. */
export type RelayEnd = 'client_closed' | 'server_closed' | 'revoked' | 'task_expired' | 'shutdown' | 'error';

export interface Relay {
  /** Bytes from the agent to the server, and from the server to the agent, so far. */
  readonly bytes: { readonly fromClient: number; readonly toClient: number };
  /** End the session: Escrow's FATAL ErrorResponse if the stream is between messages, then both sockets close. */
  cut(reason: RelayEnd, message: Buffer): void;
  /** Resolves once both sides are closed, with why. */
  readonly ended: Promise<RelayEnd>;
}

/** Relay agent ⇄ server after the handshake; `clientFirst`/`serverFirst` are bytes read ahead during it. */
export function relay(
  client: Duplex,
  server: Duplex,
  needles: readonly Buffer[],
  ahead: { readonly clientFirst: Buffer; readonly serverFirst: Buffer },
): Relay {
  const scrubber = new BackendScrubber(needles);
  const bytes = {
    fromClient: ahead.clientFirst.length,
    get toClient() {
      return scrubber.bytes;
    },
  };
  let end: RelayEnd | undefined;
  let settle: (why: RelayEnd) => void = () => {};
  const ended = new Promise<RelayEnd>((resolve) => {
    settle = resolve;
  });
  const finish = (why: RelayEnd) => {
    end ??= why;
    server.destroy();
    client.destroy();
  };
  client.on('data', (chunk: Buffer) => {
    bytes.fromClient += chunk.length;
  });
  client.once('close', () => {
    finish('client_closed');
    settle(end ?? 'client_closed');
  });
  server.once('close', () => {
    if (end === undefined) end = 'server_closed';
    scrubber.end();
  });
  scrubber.once('end', () => {
    client.end();
    // A client that never closes its side must not hold the session open.
    setTimeout(() => client.destroy(), 1_000).unref();
  });
  scrubber.once('error', () => finish('error'));
  for (const s of [client, server]) s.on('error', () => finish('error'));
  // Pipes first: bytes written into the scrubber before its pipe exists would flow past it.
  client.pipe(server);
  server.pipe(scrubber).pipe(client);
  if (ahead.clientFirst.length > 0) server.write(ahead.clientFirst);
  if (ahead.serverFirst.length > 0) scrubber.write(ahead.serverFirst);
  client.resume();
  server.resume();
  return {
    bytes,
    ended,
    cut(reason, message) {
      if (end !== undefined) return;
      end = reason;
      server.unpipe(scrubber);
      server.destroy();
      // Through the scrubber, so it follows what was already relayed; mid-message, an ErrorResponse would
      // corrupt the stream the client is parsing: then the connection just closes.
      if (scrubber.atBoundary) scrubber.push(message);
      scrubber.push(null);
    },
  };
}
