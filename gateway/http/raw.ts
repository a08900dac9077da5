import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EscrowError } from '../errors.js';
import { problemBody, problemHeaders } from './respond.js';

/** The head of an HTTP/1.1 response as a raw socket takes it: the status line, then one line per header value. */
export function rawHead(status: number, headers: Readonly<Record<string, string | readonly string[]>>): string {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of typeof value === 'string' ? [value] : value) lines.push(`${name}: ${v}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Answer a problem document on a socket that has no `ServerResponse` (a parser error, CONNECT, a refused WebSocket
 * upgrade) and close it: the same document and headers `sendProblem` gives, plus `connection: close`. A socket that
 * can no longer be written is destroyed instead.
 */
export function endWithProblem(socket: Duplex, error: EscrowError, requestId?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = problemBody(error, requestId);
  const headers = { ...problemHeaders(error, body, requestId), connection: 'close' };
  socket.end(rawHead(error.status, headers) + body);
}
