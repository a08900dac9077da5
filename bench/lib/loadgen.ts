import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One run's numbers. Latencies in microseconds. */
export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export interface LoadOptions {
  readonly port: number;
  readonly connections: number;
  readonly durationMs: number;
  /** Requests per second over all connections, sent on a fixed schedule (open loop). Absent: closed loop. */
  readonly rate?: number;
  /** The bytes of request number `i`. */
  readonly request: (i: number) => Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/** Length of one complete response at the start of `buf`, or -1 when more bytes are needed. */
export function responseLength(buf: Buffer): number {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd === -1) return -1;
  const head = buf.toString('latin1', 0, headEnd).toLowerCase();
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (length) {
    const total = headEnd + 4 + Number(length[1]);
    return buf.length >= total ? total : -1;
  }
  if (!/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) return headEnd + 4; // no body (204, 304, HEAD)
  let pos = headEnd + 4;
  for (;;) {
    const lineEnd = buf.indexOf(CRLF, pos);
    if (lineEnd === -1) return -1;
    const size = Number.parseInt(buf.toString('latin1', pos, lineEnd), 16);
    if (size === 0) {
      const end = buf.indexOf(HEAD_END, lineEnd - 2);
      return end === -1 ? -1 : end + 4;
    }
    pos = lineEnd + 2 + size + 2;
    if (pos > buf.length) return -1;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

interface Conn {
  socket: Socket;
  pending: Buffer | undefined;
  /** When the request in flight was meant to start (open loop: its slot in the schedule). */
  intended: number;
  busy: boolean;
}

/**
 * A small HTTP/1.1 keep-alive load generator with microsecond latencies. Closed loop: each connection sends its next
 * request as soon as an answer arrives. Open loop (`rate`): requests are due on a fixed schedule and a late one's
 * latency counts from when it was due (no coordinated omission).
 */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve) => {
    const latencies: number[] = [];
    let issued = 0;
    let done = 0;
    let errors = 0;
    let non2xx = 0;
    let start = 0;
    let end = 0;
    let lastDone = 0;
    const queue: number[] = [];
    const conns: Conn[] = [];
    let finished = false;

    const send = (conn: Conn, intended: number) => {
      conn.busy = true;
      conn.intended = intended;
      conn.socket.write(options.request(issued));
      issued += 1;
    };
    const next = (conn: Conn) => {
      const now = performance.now();
      if (now >= end) return finish();
      if (options.rate === undefined) send(conn, now);
      else if (queue.length > 0) send(conn, queue.shift()!);
    };
    const onData = (conn: Conn, chunk: Buffer) => {
      let buf = conn.pending ? Buffer.concat([conn.pending, chunk]) : chunk;
      for (;;) {
        const length = responseLength(buf);
        if (length === -1) break;
        const now = performance.now();
        if (buf[9] !== 0x32) non2xx += 1;
        if (now <= end) {
          latencies.push((now - conn.intended) * 1000);
          done += 1;
          lastDone = now;
        }
        conn.busy = false;
        buf = buf.subarray(length);
        next(conn);
      }
      conn.pending = buf.length > 0 ? buf : undefined;
    };
    const open = (conn: Conn) => {
      conn.socket = connect(options.port, '127.0.0.1');
      conn.socket.setNoDelay(true);
      conn.socket.on('data', (chunk: Buffer) => onData(conn, chunk));
      conn.socket.on('error', () => {
        errors += 1;
      });
      conn.socket.on('close', () => {
        conn.pending = undefined;
        if (finished) return;
        if (conn.busy) errors += 1;
        conn.busy = false;
        open(conn);
        next(conn);
      });
    };
    for (let i = 0; i < options.connections; i += 1) {
      const conn = { pending: undefined, intended: 0, busy: false } as unknown as Conn;
      conns.push(conn);
      open(conn);
    }
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      const now = performance.now();
      if (now >= end) return finish();
      const due = Math.floor(((now - start) / 1000) * options.rate!);
      // A request counts from when it was due, or from this tick if the timer woke late: the generator's own
      // lateness is not the server's; waiting for a busy connection is.
      for (let slot = issued + queue.length; slot < due; slot += 1) {
        queue.push(Math.max(start + (slot * 1000) / options.rate!, now));
      }
      for (const conn of conns) {
        if (queue.length === 0) break;
        if (!conn.busy && conn.socket.writable) send(conn, queue.shift()!);
      }
      timer = setTimeout(tick, 1);
    };
    function finish() {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      for (const conn of conns) conn.socket.destroy();
      const sorted = Float64Array.from(latencies).sort();
      const seconds = (options.rate === undefined ? lastDone - start : options.durationMs) / 1000;
      resolve({
        requests: done,
        seconds,
        rps: done / seconds,
        errors,
        non2xx,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        p999: percentile(sorted, 0.999),
        max: sorted.length > 0 ? sorted[sorted.length - 1]! : 0,
      });
    }
    let connected = 0;
    const begin = () => {
      start = performance.now();
      end = start + options.durationMs;
      lastDone = start;
      setTimeout(finish, options.durationMs + 5_000).unref();
      if (options.rate === undefined) for (const conn of conns) send(conn, performance.now());
      else tick();
    };
    for (const conn of conns) {
      conn.socket.once('connect', () => {
        connected += 1;
        if (connected === conns.length) begin();
      });
    }
  });
}
