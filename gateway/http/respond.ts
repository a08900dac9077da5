import type { IncomingMessage, ServerResponse } from 'node:http';
import { EscrowError, PROBLEM_CONTENT_TYPE, toProblem } from '../errors.js';

/** The problem document's bytes. A trailing newline keeps a shell prompt off the end of a curl'd error. */
export function problemBody(error: EscrowError, requestId?: string): string {
  return `${JSON.stringify(toProblem(error, requestId))}\n`;
}

/** The headers of every problem answer, on a `ServerResponse` or a raw socket (gateway/http/raw.ts). */
export function problemHeaders(error: EscrowError, body: string, requestId?: string): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': String(Buffer.byteLength(body)),
    ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
    'cache-control': 'no-store',
  };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer realm="escrow"';
  if (error.status === 405) headers.allow = 'GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE';
  return headers;
}

const lingering = new WeakSet<object>();

/**
 * Whether this connection was answered `Connection: close` and only lingers: a request that still arrives on it
 * (pipelined after the refused one) must not be processed (RFC 9112 §9.6); the listeners destroy it.
 */
export function isLingering(socket: object): boolean {
  return lingering.has(socket);
}

/** How long a refused request's connection keeps reading (and discarding) what its client still sends. */
export const LINGER_MS = 2_000;

/**
 * A lingering close (RFC 9112 §9.6): the answer goes out and the connection is half-closed, but what the client is
 * still uploading is read and discarded until it stops or `LINGER_MS` pass. Closed at once, the client's next write
 * meets a reset, and an SDK sending a large body reports `EPIPE` instead of the 413 that was sent to it.
 */
function lingerOnClose(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket) return;
  lingering.add(socket);
  // node:http calls destroySoon on a `Connection: close` answer once it is written.
  socket.destroySoon = function lingeringClose(this: typeof socket) {
    this.end();
    this.resume();
    const timer = setTimeout(() => this.destroy(), LINGER_MS).unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/** Write an RFC 9457 problem document. A response whose head is already sent is cut instead. */
export function sendProblem(res: ServerResponse, error: EscrowError, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = problemBody(error, requestId);
  const headers = problemHeaders(error, body, requestId);
  // A refused request whose body was never read would leave those bytes in front of the next request on a
  // kept-alive connection: close it instead.
  if (res.req && !res.req.complete) {
    headers.connection = 'close';
    lingerOnClose(res);
  }
  res.writeHead(error.status, headers);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, requestId: string): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** Read a small JSON body (Escrow's own API). Bad JSON, a wrong content type or too many bytes → 4xx. */
export async function readJson(req: IncomingMessage, maxBytes = 64 * 1024): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    throw new EscrowError('bad_request', 'content-type must be application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new EscrowError('payload_too_large', `the body must be at most ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new EscrowError('bad_request', 'the body is not valid JSON');
  }
}
