import { type Socket, connect as tcpConnect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

/** A backend message as a test reads it. */
export interface WireMessage {
  readonly type: string;
  readonly body: Buffer;
}

/** Split backend bytes into messages (`S`/`N` single-byte answers to encryption requests come first). */
export function messages(bytes: Buffer): WireMessage[] {
  const out: WireMessage[] = [];
  let at = 0;
  while (at + 5 <= bytes.length) {
    const length = bytes.readInt32BE(at + 1);
    out.push({ type: String.fromCharCode(bytes[at]!), body: bytes.subarray(at + 5, at + 1 + length) });
    at += 1 + length;
  }
  return out;
}

/** The fields of an ErrorResponse (`C` SQLSTATE, `M` message, `S` severity, `H` hint). */
export function errorFields(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    fields[String.fromCharCode(body[at]!)] = body.toString('utf8', at + 1, end);
    at = end + 1;
  }
  return fields;
}

/** A startup-phase packet: int32 length, int32 code, body. */
export function packet(code: number, body: Buffer = Buffer.alloc(0), length = 8 + body.length): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(length, 0);
  head.writeInt32BE(code, 4);
  return Buffer.concat([head, body]);
}

/** A startup message for protocol `major.minor` with these parameters. */
export function startup(params: Record<string, string>, major = 3, minor = 0): Buffer {
  const pairs = Object.entries(params).flatMap(([k, v]) => [Buffer.from(`${k}\0${v}\0`)]);
  return packet(major * 65536 + minor, Buffer.concat([...pairs, Buffer.from([0])]));
}

export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** A raw connection to a listener: write bytes, collect everything until the server closes. */
export class RawClient {
  readonly socket: Socket | TLSSocket;
  readonly #chunks: Buffer[] = [];
  readonly closed: Promise<Buffer>;

  constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.#chunks.push(c));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(this.#chunks))));
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  /** SSLRequest, `S`, then TLS verified against `ca`. */
  static async connectTls(port: number, ca: string): Promise<RawClient> {
    const raw = await RawClient.connect(port);
    raw.socket.write(packet(SSL_REQUEST));
    await raw.received(1);
    raw.socket.removeAllListeners('data');
    const secure = tlsConnect({ socket: raw.socket as Socket, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    return new RawClient(secure);
  }

  /** Resolves once at least `bytes` bytes have arrived. */
  async received(bytes: number): Promise<Buffer> {
    for (;;) {
      const all = Buffer.concat(this.#chunks);
      if (all.length >= bytes) return all;
      await new Promise((resolve) => this.socket.once('data', resolve));
    }
  }

  /** The ErrorResponse the server closed the connection with (after `skip` bytes, e.g. an `N` answer). */
  async error(skip = 0): Promise<Record<string, string>> {
    const error = messages((await this.closed).subarray(skip)).find((m) => m.type === 'E');
    if (!error) throw new Error('the server closed the connection without an ErrorResponse');
    return errorFields(error.body);
  }
}
