import { createServer, type Server } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';

const KEY = 'canary-te-gzip-41c8b2d7e90a';

// An upstream (or something in front of it) that frames its answer with `Transfer-Encoding: gzip, chunked`: the
// scrubber would see compressed bytes, and the agent would decompress the key. Escrow refuses such an answer.
describe('an answer in a transfer coding Escrow cannot scrub is refused, not passed through', () => {
  let upstream: Server;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    upstream = createServer((socket) => {
      socket.once('data', (request) => {
        const key = /x-api-key: ([^\r\n]+)/i.exec(request.toString('latin1'))?.[1] ?? '';
        const body = gzipSync(JSON.stringify({ key }));
        const coding = request.toString('latin1').includes('/plain') ? 'chunked' : 'gzip, chunked';
        const payload = coding === 'chunked' ? Buffer.from(JSON.stringify({ key })) : body;
        socket.end(
          Buffer.concat([
            Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: ${coding}\r\n\r\n`),
            Buffer.from(`${payload.length.toString(16)}\r\n`),
            payload,
            Buffer.from('\r\n0\r\n\r\n'),
          ]),
        );
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as { port: number }).port;
    escrow = await startLoggedEscrow({ env: { KEY }, targets: [headerTarget('te', `http://127.0.0.1:${port}`)] });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['te']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it('answers 502 with a problem and none of the compressed bytes', async () => {
    const res = await fetch(`${escrow.url}/te/gz`, { headers });
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(body.includes(Buffer.from([0x1f, 0x8b]))).toBe(false);
    expect(body.toString()).not.toContain(KEY);
  });

  it('still passes a plainly chunked answer, masked', async () => {
    const res = await fetch(`${escrow.url}/te/plain`, { headers });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toContain('"key":"*');
    expect(text).not.toContain(KEY);
  });
});
