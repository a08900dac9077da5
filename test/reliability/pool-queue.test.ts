import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { scrape } from './support/metrics.js';

/**
 * Issue #15, failure 6: with every connection of a target's pool busy on slow streams, further requests hung until
 * the client gave up (undici's pool queue is unbounded and its timeouts start only after dispatch). Now a request
 * waits for a connection at most `pool.queueTimeoutMs`, behind at most `pool.maxQueued` others, then gets 503.
 */
describe('a request that cannot get an upstream connection in time gets 503 upstream_busy, counted', () => {
  const held: ServerResponse[] = [];
  let upstream: ReturnType<typeof createServer>;
  let escrow: TestEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    // `/slow` sends its head and then nothing until released: a connection busy on a slow stream.
    upstream = createServer((req, res) => {
      if (req.url?.startsWith('/slow')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('started\n');
        held.push(res);
      } else res.writeHead(200, { 'content-type': 'text/plain' }).end('fast');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    escrow = await startEscrow({
      env: { KEY: 'canary-pool-queue-5d1f0a' },
      targets: [
        {
          name: 'busy',
          upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
          attributes: { sensitivity: 'low', environment: 'dev' },
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
          pool: { connections: 2, maxQueued: 2, queueTimeoutMs: 1_000 },
        },
      ],
    });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['busy']) };
  });
  afterAll(async () => {
    for (const res of held) res.end();
    await escrow?.close();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  const slow = async () => {
    const res = await fetch(`${escrow.url}/busy/slow`, { headers });
    const reader = res.body!.getReader();
    await reader.read(); // the stream is flowing: it holds its connection
    return reader;
  };
  const timed = async (path: string) => {
    const started = performance.now();
    const res = await fetch(`${escrow.url}/busy${path}`, { headers });
    return { status: res.status, body: await res.text(), ms: performance.now() - started };
  };

  it('refuses after the queue timeout while both connections stream, at once when the queue is full, and serves again after', async () => {
    const streams = [await slow(), await slow()];
    const countBefore = await scrape(escrow.adminUrl, 'escrow_limits_exceeded_total', { limit: 'upstream_queue' });
    const waited = await timed('/fast');
    expect(waited.status).toBe(503);
    expect(JSON.parse(waited.body)).toMatchObject({ code: 'upstream_busy', reason: 'queue_timeout', status: 503 });
    expect(waited.ms).toBeGreaterThanOrEqual(990);
    expect(waited.ms).toBeLessThan(5_000);

    const queued = [timed('/fast'), timed('/fast')];
    const overflow = await timed('/fast'); // two already wait: refused without waiting
    expect(JSON.parse(overflow.body)).toMatchObject({ code: 'upstream_busy', reason: 'queue_full' });
    expect(overflow.ms).toBeLessThan(990);
    for (const res of held.splice(0)) res.end(); // the slow streams end: the queued requests get connections
    expect((await queued[0]!).status).toBe(200);
    expect((await queued[1]!).status).toBe(200);
    for (const reader of streams) await reader.cancel().catch(() => {});
    expect(await scrape(escrow.adminUrl, 'escrow_limits_exceeded_total', { limit: 'upstream_queue' })).toBe(
      countBefore + 2,
    );
    expect((await timed('/fast')).status).toBe(200);
  });
});
