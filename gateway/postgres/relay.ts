import type { Duplex } from 'node:stream';
import { Transform, type TransformCallback } from 'node:stream';
import type { NeedleIndex } from '../scrub/index.js';
import { scrubBytes } from '../scrub/stream.js';

/** An ErrorResponse or NoticeResponse larger than this ends the session rather than being held in memory. */
const MAX_HELD_MESSAGE = 8 * 1024 * 1024;

/**
 * Server → agent bytes, relayed as they come, message boundaries tracked from the 5-byte headers. The text
 * messages the server composes (ErrorResponse `E`, NoticeResponse `N`) are held whole and the lease's secret
 * masked in them — every secret this replica knows, the role's password included (same length: framing stays intact); everything else passes without a copy. Knowing the
 * boundaries also lets Escrow end a session with its own ErrorResponse without cutting a message in half.
 */
export class BackendScrubber extends Transform {
  readonly #index: NeedleIndex;
  /** Header bytes seen of the current message (0–5), its length field, and body bytes still to come. */
  #got = 0;
  readonly #length = Buffer.alloc(4);
  #remaining = 0;
  /** The pieces of an E/N message being held until it is whole. */
  #held: Buffer[] | undefined;
  #heldBytes = 0;
  bytes = 0;

  constructor(index: NeedleIndex) {
    super();
    this.#index = index;
  }

  /** True between two messages: a message of Escrow's own may be sent now. */
  get atBoundary(): boolean {
    return this.#got === 0 && this.#remaining === 0;
  }

  /**
   * Walks the chunk's message headers; every run of other messages goes on as one slice of the chunk (one
   * write downstream per chunk, not one per message), an E/N message is held until whole, then masked.
   */
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    let at = 0;
    let run = this.#held ? -1 : 0; // start of the bytes to pass on; -1 while they belong to a held message
    let heldFrom = this.#held ? 0 : -1;
    try {
      while (at < chunk.length) {
        if (this.#got < 5) {
          const byte = chunk[at]!;
          if (this.#got === 0 && (byte === 0x45 || byte === 0x4e)) {
            if (run >= 0 && at > run) this.push(chunk.subarray(run, at));
            [run, heldFrom, this.#held, this.#heldBytes] = [-1, at, [], 0];
          } else if (this.#got > 0) this.#length[this.#got - 1] = byte;
          this.#got++;
          at++;
          if (this.#got === 5) this.#remaining = this.#bodyLength();
        } else {
          const take = Math.min(this.#remaining, chunk.length - at);
          at += take;
          this.#remaining -= take;
        }
        if (this.#got === 5 && this.#remaining === 0) {
          this.#got = 0;
          if (this.#held) {
            this.#hold(chunk.subarray(heldFrom, at));
            this.#release();
            [run, heldFrom] = [at, -1];
          }
        }
      }
      if (this.#held) this.#hold(chunk.subarray(heldFrom));
      else if (run >= 0 && run < chunk.length) this.push(run === 0 ? chunk : chunk.subarray(run));
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  #bodyLength(): number {
    const length = this.#length.readInt32BE(0) - 4;
    if (length < 0) throw new Error('invalid message length from the database server');
    return length;
  }

  #hold(piece: Buffer): void {
    this.#held!.push(piece);
    this.#heldBytes += piece.length;
    if (this.#heldBytes > MAX_HELD_MESSAGE) throw new Error('oversized notice from the database server');
  }

  #release(): void {
    const whole = scrubBytes(this.#index, Buffer.concat(this.#held!));
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

/** Agent ⇄ server after the handshake: the agent's bytes as they are, the server's through the scrubber. */
class RelayedSession implements Relay {
  readonly #client: Duplex;
  readonly #server: Duplex;
  readonly #scrubber: BackendScrubber;
  #end: RelayEnd | undefined;
  #fromClient: number;
  readonly ended: Promise<RelayEnd>;

  constructor(client: Duplex, server: Duplex, index: NeedleIndex, clientFirst: Buffer) {
    this.#client = client;
    this.#server = server;
    this.#scrubber = new BackendScrubber(index);
    this.#fromClient = clientFirst.length;
    this.ended = new Promise<RelayEnd>((resolve) => {
      client.once('close', () => {
        this.#finish('client_closed');
        resolve(this.#end ?? 'client_closed');
      });
    });
  }

  get bytes(): { fromClient: number; toClient: number } {
    return { fromClient: this.#fromClient, toClient: this.#scrubber.bytes };
  }

  /** Wire both directions; bytes read ahead during the handshake go first. */
  start(clientFirst: Buffer, serverFirst: Buffer): void {
    const [client, server, scrubber] = [this.#client, this.#server, this.#scrubber];
    client.on('data', (chunk: Buffer) => {
      this.#fromClient += chunk.length;
    });
    server.once('close', () => {
      this.#end ??= 'server_closed';
      scrubber.end();
    });
    scrubber.once('end', () => {
      client.end();
      // A client that never closes its side must not hold the session open.
      setTimeout(() => client.destroy(), 1_000).unref();
    });
    scrubber.once('error', () => this.#finish('error'));
    for (const s of [client, server]) s.on('error', () => this.#finish('error'));
    // Pipes first: bytes written into the scrubber before its pipe exists would flow past it.
    client.pipe(server);
    server.pipe(scrubber).pipe(client);
    if (clientFirst.length > 0) server.write(clientFirst);
    if (serverFirst.length > 0) scrubber.write(serverFirst);
    client.resume();
    server.resume();
  }

  #finish(why: RelayEnd): void {
    this.#end ??= why;
    this.#server.destroy();
    this.#client.destroy();
  }

  cut(reason: RelayEnd, message: Buffer): void {
    if (this.#end !== undefined) return;
    this.#end = reason;
    this.#server.unpipe(this.#scrubber);
    this.#server.destroy();
    // Through the scrubber, so it follows what was already relayed; mid-message, an ErrorResponse would
    // corrupt the stream the client is parsing: then the connection just closes.
    if (this.#scrubber.atBoundary) this.#scrubber.push(message);
    this.#scrubber.push(null);
  }
}

/** Relay agent ⇄ server after the handshake; `clientFirst`/`serverFirst` are bytes read ahead during it. */
export function relay(
  client: Duplex,
  server: Duplex,
  index: NeedleIndex,
  ahead: { readonly clientFirst: Buffer; readonly serverFirst: Buffer },
): Relay {
  const session = new RelayedSession(client, server, index, ahead.clientFirst);
  session.start(ahead.clientFirst, ahead.serverFirst);
  return session;
}
