import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EscrowError, PROBLEM_CONTENT_TYPE } from '../../../gateway/errors.js';
import { endWithProblem, rawHead } from '../../../gateway/http/raw.js';

async function written(send: (socket: PassThrough) => void): Promise<string> {
  const socket = new PassThrough();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => socket.on('end', resolve));
  send(socket);
  await ended;
  return Buffer.concat(chunks).toString('latin1');
}

describe('a problem answered on a raw socket', () => {
  it('is the status line, the problem headers, connection: close and the document, then the socket ends', async () => {
    const text = await written((socket) =>
      endWithProblem(socket, new EscrowError('identity_missing', 'no token'), 'req_1'),
    );
    const [head, body] = text.split('\r\n\r\n');
    const lines = head?.split('\r\n') ?? [];
    expect(lines[0]).toBe('HTTP/1.1 401 Unauthorized');
    expect(lines).toContain(`content-type: ${PROBLEM_CONTENT_TYPE}`);
    expect(lines).toContain(`content-length: ${Buffer.byteLength(body ?? '')}`);
    expect(lines).toContain('x-request-id: req_1');
    expect(lines).toContain('www-authenticate: Bearer realm="escrow"');
    expect(lines).toContain('connection: close');
    expect(JSON.parse(body ?? '')).toMatchObject({ status: 401, detail: 'no token' });
  });

  it('destroys a socket that can no longer be written instead of writing to it', () => {
    const socket = new PassThrough();
    socket.end();
    endWithProblem(socket, new EscrowError('bad_request', 'x'));
    expect(socket.destroyed).toBe(true);
  });

  it('writes one header line per value', () => {
    expect(rawHead(101, { upgrade: 'websocket', 'set-cookie': ['a=1', 'b=2'] })).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n',
    );
  });
});
