import { connect } from 'node:net';
import type { Reflector } from './reflector.js';
import { wsConnect } from './ws.js';

/**
 * Let every party in this process (agent, Escrow, upstream) handle what is already on its sockets: loopback writes
 * land in the peer's queue at once, so a few turns of the event loop are enough, however loaded the machine is
 * (everything here waits for the same loop). No wall clock.
 */
export async function settle(turns = 30): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** The sizes of the chunks of a chunked body, read from the raw bytes. */
export function chunkSizes(raw: Buffer): number[] {
  let at = raw.indexOf('\r\n\r\n') + 4;
  const sizes: number[] = [];
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol === -1) return sizes;
    const size = Number.parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) return sizes;
    sizes.push(size);
    at = eol + 2 + size + 2;
  }
}

/** What an agent sees of one HTTP answer's framing. */
export interface HttpObservation {
  /** Bytes that had arrived once the first part of the answer was handled (before the upstream went on). */
  readonly early: number;
  readonly chunks: readonly number[];
  readonly raw: Buffer;
}

/**
 * POST `body` to `path` on a fresh connection, note how many bytes arrived while the upstream holds its second
 * part back, then let it go on and read to the end.
 */
export async function observeHttp(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: string,
  reflector: Reflector,
  options: { awaitDeadline?: boolean } = {},
): Promise<HttpObservation> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  const lines = [
    `POST ${path} HTTP/1.1`,
    'host: 127.0.0.1',
    'connection: close',
    `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  const answered = reflector.answered;
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // Wait for the upstream's first part, then for Escrow to pass on what it will pass on before the rest comes.
  await reflector.waitAnswered(answered + 1);
  // A `chunked` answer comes whole in one upstream write: its end is released once the request's audit event is
  // written (group commit), which takes as long as the sink's I/O, not a fixed number of turns. Its framing is
  // the chunk sizes; waiting for the end keeps that I/O's timing out of the observation.
  if (/\/chunked(\?|$)/.test(path)) await ended;
  await settle();
  const early = chunks.reduce((n, c) => n + c.length, 0);
  // With a short `flushAfterMs`, what was held leaves at its deadline, without the upstream going on.
  if (options.awaitDeadline) await new Promise((resolve) => socket.once('data', resolve));
  reflector.next();
  await ended;
  const raw = Buffer.concat(chunks);
  return { early, chunks: chunkSizes(raw), raw };
}

/** The part of an observation that is framing (not content): the same for every guess unless the scrubber leaks. */
export function httpFraming(o: HttpObservation): string {
  // The head's own bytes vary with nothing the agent sends (fixed-width date and request id), so they count too.
  return JSON.stringify({ early: o.early, chunks: o.chunks, total: o.raw.length });
}

/**
 * A WebSocket through Escrow to the reflector: send guesses one at a time, each after the previous one's echo has
 * begun to come back, then one more message that pushes the last echo out. Each guess's observation is the list of
 * its echo's frames (opcode, FIN, length).
 */
export async function wsFramings(
  port: number,
  path: string,
  headers: Record<string, string>,
  guesses: readonly string[],
  binary: boolean,
): Promise<string[]> {
  const ws = await wsConnect(port, path, headers);
  if (ws.status !== 101) throw new Error(`upgrade answered ${ws.status}`);
  const starts = () => ws.reader.frames.filter((f) => f.opcode !== 0 && f.opcode < 8).length;
  for (const [i, guess] of [...guesses, '#end'].entries()) {
    ws.sendFrame(binary ? 0x2 : 0x1, guess);
    await ws.until(() => starts() > i);
  }
  const messages: string[][] = [];
  for (const f of ws.reader.frames.filter((f) => f.opcode < 8)) {
    if (f.opcode !== 0) messages.push([]);
    messages.at(-1)!.push(`${f.opcode}:${f.fin ? 'F' : '-'}:${f.payload.length}`);
  }
  ws.close();
  await ws.closed;
  return messages.slice(0, guesses.length).map((m) => m.join(' '));
}
