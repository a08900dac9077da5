import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EscrowError } from '../../../gateway/errors.js';
import { isLingering, sendProblem } from '../../../gateway/http/respond.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

/** A listener wired as gateway/server.ts wires Escrow's: a request on a lingering connection is destroyed. */
async function listen(seen: string[]): Promise<number> {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (isLingering(req.socket)) return void req.socket.destroy();
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/refused') sendProblem(res, new EscrowError('bad_request', 'refused'), 'req_1');
    else res.end('served');
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server!.address() as AddressInfo).port;
}

describe('a refused request whose body was not read closes its connection lingeringly', () => {
  it('never hands a request pipelined behind the refused one to the handler (RFC 9112 §9.6)', async () => {
    const seen: string[] = [];
    const port = await listen(seen);
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /refused HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\n');
    for (let i = 0; i < 200 && !answer.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(answer).toMatch(/^HTTP\/1\.1 400 [\s\S]*connection: close/i);
    socket.write('12345GET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n');
    await closed;
    expect(seen).toEqual(['POST /refused']);
  });

  it('reads and discards the rest of the upload, so the client sees its answer rather than a reset', async () => {
    const seen: string[] = [];
    const port = await listen(seen);
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    let error: Error | undefined;
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    socket.on('error', (e) => {
      error = e;
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise((resolve) => socket.once('connect', resolve));
    const size = 1024 * 1024;
    socket.write(`POST /refused HTTP/1.1\r\nhost: a\r\ncontent-length: ${size}\r\n\r\n`);
    for (let i = 0; i < 200 && !answer.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 5));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < size; sent += chunk.length) socket.write(chunk);
    socket.end();
    await closed;
    expect(error).toBeUndefined();
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });
});
