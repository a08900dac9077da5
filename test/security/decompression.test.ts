import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';

const KEY = 'canary-decompress-5a1e0c9b7d';

/** An upstream that ignores `accept-encoding: identity` and gzips what it sends: 1 000 bytes, or a 5 MB bomb. */
function startGzipUpstream(): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    const size = req.url.startsWith('/big-bomb') ? 70 * 2 ** 20 : req.url.startsWith('/bomb') ? 5_000_000 : 1_000;
    const plain = Buffer.alloc(size, req.url.includes('bomb') ? 'a' : 'b');
    const body = gzipSync(plain);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': body.length });
    res.end(body);
  });
}

describe('decompressed bodies are bounded by limits.maxResponseBytes', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let auth: string;

  beforeAll(async () => {
    upstream = await startGzipUpstream();
    escrow = await startLoggedEscrow({
      env: { KEY },
      targets: [
        headerTarget('tiny', upstream.url, { limits: { maxResponseBytes: 300 } }),
        headerTarget('small', upstream.url, { limits: { maxResponseBytes: 100_000 } }),
        headerTarget('unset', upstream.url),
      ],
    });
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['tiny', 'small', 'unset']);
    auth = `Authorization: Bearer ${token}\r\nX-Escrow-Task: ${task}\r\nConnection: close`;
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('answers 502 with a problem when the bound is passed before anything was sent', async () => {
    const res = await rawExchange(escrow.port, `GET /tiny/small HTTP/1.1\r\nHost: x\r\n${auth}\r\n\r\n`, 5_000);
    expect(res.status).toBe(502);
    expect(res.head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(res.body).reason).toBe('response_too_large');
  });

  it('cuts the connection when the bound is passed after the head went out (a 12 KB gzip of 5 MB)', async () => {
    const res = await rawExchange(escrow.port, `GET /small/bomb HTTP/1.1\r\nHost: x\r\n${auth}\r\n\r\n`, 5_000);
    expect(res.status).toBe(200);
    expect(res.head.toLowerCase()).not.toContain('content-encoding');
    expect(res.raw.length).toBeLessThan(200_000);
    expect(res.raw.endsWith('0\r\n\r\n')).toBe(false); // no end of the chunked body: the agent sees a cut
  });

  it('cuts at 64 MiB when the target sets no bound (70 MiB of zeros in a 70 KB gzip)', async () => {
    const res = await rawExchange(escrow.port, `GET /unset/big-bomb HTTP/1.1\r\nHost: x\r\n${auth}\r\n\r\n`, 15_000);
    expect(res.status).toBe(200);
    expect(res.raw.length).toBeGreaterThan(60 * 2 ** 20);
    expect(res.raw.length).toBeLessThan(65 * 2 ** 20);
    expect(res.raw.endsWith('0\r\n\r\n')).toBe(false);
  }, 30_000);

  it('keeps serving afterwards', async () => {
    const res = await rawExchange(escrow.port, `GET /small/ok HTTP/1.1\r\nHost: x\r\n${auth}\r\n\r\n`, 5_000);
    expect(res.status).toBe(200);
    expect(res.body).toContain('b'.repeat(100));
  });
});
