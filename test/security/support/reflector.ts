import { createServer, type Server, type Socket } from 'node:net';
import { acceptKey, FrameReader, frame } from './ws.js';

/** How the reflector frames its answer to one HTTP request. */
export type ReflectMode = 'chunked' | 'length' | 'sse';

export interface Reflector {
  readonly url: string;
  /** Bytes the reflector puts in front of every echo: longer than any scrubber window, so it never decides. */
  readonly filler: string;
  /** Let the answer that is waiting go on: its second part and its end. */
  next(): void;
  /** HTTP answers whose first part has been written so far. */
  readonly answered: number;
  /** Resolves once `n` answers have had their first part written. */
  waitAnswered(n: number): Promise<void>;
  close(): Promise<void>;
}

const CRLF = '\r\n';

function chunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}${CRLF}${text}${CRLF}`;
}

/**
 * The attacker's ideal upstream, on a raw socket so that every answer's framing is exactly what it writes: it
 * reflects the request body (`#<guess>`) at the very end of the first part of its answer, where a scrubber that
 * holds back "the longest tail that could start a secret" shows its hand. The first part is one socket write; the
 * second part waits for `next()` (`chunked` and `length` answer at once). WebSocket: each data message comes back
 * as one frame (same opcode), `filler` + the message, in one write.
 */
export async function startReflector(fillerBytes = 4096): Promise<Reflector> {
  const filler = 'f'.repeat(fillerBytes);
  const waiting: (() => void)[] = [];
  const sockets = new Set<Socket>();
  let answered = 0;
  const watchers: { n: number; resolve: () => void }[] = [];
  const onAnswered = () => {
    answered++;
    for (const w of watchers.filter((x) => x.n <= answered)) {
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve();
    }
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    const onData = (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.subarray(0, end).toString('latin1');
        if (/\r\nupgrade: websocket/i.test(head)) {
          socket.off('data', onData);
          upgrade(socket, head, buffered.subarray(end + 4), filler);
          return;
        }
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const body = buffered.subarray(end + 4, end + 4 + length).toString('latin1');
        buffered = buffered.subarray(end + 4 + length);
        const mode = (/^\w+ \/(\w+)/.exec(head)?.[1] ?? 'chunked') as ReflectMode;
        answer(socket, mode, `${filler}${body}`, waiting);
        onAnswered();
      }
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    filler,
    next: () => waiting.shift()?.(),
    get answered() {
      return answered;
    },
    waitAnswered: (n) =>
      new Promise<void>((resolve) => {
        if (answered >= n) resolve();
        else watchers.push({ n, resolve });
      }),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function answer(socket: Socket, mode: ReflectMode, first: string, waiting: (() => void)[]): void {
  const second = '!done';
  if (mode === 'length') {
    const total = Buffer.byteLength(first) + Buffer.byteLength(second);
    socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${total}\r\n\r\n${first}`);
    waiting.push(() => socket.write(second));
    return;
  }
  const type = mode === 'sse' ? 'text/event-stream' : 'text/plain';
  const head = `HTTP/1.1 200 OK\r\ncontent-type: ${type}\r\ntransfer-encoding: chunked\r\n\r\n`;
  if (mode === 'sse') {
    socket.write(head + chunk(`data: ${first}`));
    waiting.push(() => socket.write(`${chunk(`\n\ndata: ${second}\n\n`)}0\r\n\r\n`));
    return;
  }
  // Two chunks and the end in one write: undici hands them over one by one, in the same turn of the loop.
  socket.write(`${head}${chunk(first)}${chunk(second)}0\r\n\r\n`);
}

function upgrade(socket: Socket, head: string, rest: Buffer, filler: string): void {
  const key = /\r\nsec-websocket-key: *([^\r]+)/i.exec(head)?.[1] ?? '';
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${acceptKey(key)}\r\n\r\n`,
  );
  const reader = new FrameReader();
  const onData = (data: Buffer) => {
    const seen = reader.frames.length;
    reader.push(data);
    for (const f of reader.frames.slice(seen)) {
      if (f.opcode === 0x8) socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
      else if (f.opcode === 0x1 || f.opcode === 0x2) {
        socket.write(frame(f.opcode, Buffer.concat([Buffer.from(filler), f.payload])));
      }
    }
  };
  socket.on('data', onData);
  if (rest.length > 0) onData(rest);
}
