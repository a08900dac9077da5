import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A raw RFC 6455 codec (handshake, framing, masking) for the tests that must write or read exact frames: the frame
 * scrubber's unit tests (scrubbers.test.ts: fragments, interleaved pings, compressed and masked frames), the
 * oracle's probes and reflector (frame boundaries and sizes). Behaviour tests use the
 * `ws` peers in test/support/websocket.ts, so that Escrow is checked against a maintained implementation.
 */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** Encode a frame; clients mask (RFC 6455 §5.3), servers do not. */
export function frame(
  opcode: number,
  payload: Buffer | string,
  options: { fin?: boolean; mask?: boolean } = {},
): Buffer {
  const data = Buffer.from(payload);
  const mask = options.mask ? randomBytes(4) : undefined;
  const n = data.length;
  const head = Buffer.alloc((n < 126 ? 2 : n < 65_536 ? 4 : 10) + (mask ? 4 : 0));
  head[0] = (options.fin === false ? 0 : 0x80) | opcode;
  const lenByte = n < 126 ? n : n < 65_536 ? 126 : 127;
  head[1] = (mask ? 0x80 : 0) | lenByte;
  if (lenByte === 126) head.writeUInt16BE(n, 2);
  if (lenByte === 127) head.writeBigUInt64BE(BigInt(n), 2);
  if (!mask) return Buffer.concat([head, data]);
  mask.copy(head, head.length - 4);
  const masked = Buffer.from(data.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, masked]);
}

/** Incremental frame parser: feed bytes, get whole frames (unmasked). */
export class FrameReader {
  #buf = Buffer.alloc(0);
  readonly frames: Frame[] = [];

  push(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      const len7 = b[1]! & 0x7f;
      const masked = (b[1]! & 0x80) !== 0;
      let offset = 2;
      let length = len7;
      if (len7 === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (len7 === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      const maskKey = masked ? b.subarray(offset, offset + 4) : undefined;
      if (masked) offset += 4;
      if (b.length < offset + length) return;
      let payload = Buffer.from(b.subarray(offset, offset + length));
      if (maskKey) payload = Buffer.from(payload.map((x, i) => x ^ maskKey[i % 4]!));
      this.frames.push({ fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, payload });
      this.#buf = b.subarray(offset + length);
    }
  }

  /** Data messages, fragments joined. */
  messages(): string[] {
    const out: string[] = [];
    let current: Buffer[] = [];
    for (const f of this.frames) {
      if (f.opcode >= 0x8) continue;
      current.push(f.payload);
      if (f.fin) {
        out.push(Buffer.concat(current).toString());
        current = [];
      }
    }
    return out;
  }
}

export interface WsClient {
  readonly status: number;
  readonly head: string;
  /** Everything after the head, for non-101 answers. */
  body(): string;
  readonly reader: FrameReader;
  send(text: string): void;
  /** Send one (masked) frame with any opcode. */
  sendFrame(opcode: number, payload: string | Buffer): void;
  /** Resolves once `done()` holds, checked after every arrival (rejects after `timeoutMs`). */
  until(done: () => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
  /** Resolves once `n` data messages have arrived. */
  waitMessages(n: number, timeoutMs?: number): Promise<string[]>;
  closed: Promise<void>;
  raw(): string;
}

/** Open a WebSocket through a raw socket, with exactly the headers given. */
export function wsConnect(port: number, path: string, headers: Record<string, string>): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const key = randomBytes(16).toString('base64');
    const lines = [
      `GET ${path} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      `Sec-WebSocket-Key: ${key}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    const reader = new FrameReader();
    let buffered = Buffer.alloc(0);
    let all = Buffer.alloc(0);
    let client: WsClient | undefined;
    const arrivals = new Set<() => void>();
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', (e) => (client ? undefined : reject(e)));
    socket.on('data', (chunk: Buffer) => {
      all = Buffer.concat([all, chunk]);
      if (client) {
        reader.push(chunk);
        for (const check of arrivals) check();
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffered.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const rest = buffered.subarray(end + 4);
      if (status === 101) reader.push(rest);
      client = {
        status,
        head,
        body: () => all.subarray(all.indexOf('\r\n\r\n') + 4).toString(),
        reader,
        send: (text) => socket.write(frame(0x1, text, { mask: true })),
        sendFrame: (opcode, payload) => socket.write(frame(opcode, payload, { mask: true })),
        until: (done, timeoutMs = 5_000) =>
          new Promise<void>((resolveUntil, rejectUntil) => {
            if (done()) return resolveUntil();
            const timer = setTimeout(() => {
              arrivals.delete(check);
              rejectUntil(new Error('the expected frames did not arrive'));
            }, timeoutMs);
            const check = () => {
              if (!done()) return;
              clearTimeout(timer);
              arrivals.delete(check);
              resolveUntil();
            };
            arrivals.add(check);
          }),
        close: () => socket.write(frame(0x8, Buffer.from([0x03, 0xe8]), { mask: true })),
        closed,
        raw: () => all.toString('latin1'),
        async waitMessages(n, timeoutMs = 3_000) {
          const deadline = Date.now() + timeoutMs;
          while (reader.messages().length < n) {
            if (Date.now() > deadline) throw new Error(`only ${reader.messages().length} of ${n} messages arrived`);
            await new Promise((r) => setTimeout(r, 10));
          }
          return reader.messages();
        },
      };
      resolve(client);
    });
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}
