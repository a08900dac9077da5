import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { scrape } from './support/metrics.js';
import { waitFor } from './support/ports.js';
import { type OwnRedis, startOwnRedis } from './support/redis-server.js';

const CANARY = 'canary-missed-notices-7c3f1b';

// While the revocation subscription is down, a task's close cannot reach this replica. When it comes back, every
// live connection's task is looked up again (gateway/leases/revoker.ts): one that vanished meanwhile is cut, an HTTP
// stream as much as a PostgreSQL session (one registry, gateway/connections.ts). Here Redis comes back empty, so
// the task of the stream opened before the outage is gone.
describe('after an outage of the revocation subscription, a live stream whose task vanished is cut', () => {
  const held: ServerResponse[] = [];
  let redis: OwnRedis;
  let upstream: TestUpstream;
  let escrow: EscrowProcess;

  beforeAll(async () => {
    redis = await startOwnRedis();
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write('data: started\n\n');
      held.push(res);
    });
    escrow = await startEscrowProcess({
      store: redis.url,
      targets: [echoTarget(upstream.url, 'env:ECHO_KEY')],
      env: { ECHO_KEY: CANARY },
      config: { storeTimeoutMs: 300 },
    });
    await waitFor(async () => (await fetch(`${escrow.adminUrl}/readyz`)).status === 200);
  });
  afterAll(async () => {
    for (const res of held) res.end();
    await escrow?.close();
    await upstream?.close();
    await redis?.close();
  });

  it('cuts the stream once the subscription is back and the task is not', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['echo']);
    const res = await fetch(`${escrow.url}/echo/events`, {
      headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    const cutBefore = await scrape(escrow.adminUrl, 'escrow_connections_cut_total', { reason: 'task_closed' });

    await redis.kill();
    await waitFor(async () => (await fetch(`${escrow.adminUrl}/readyz`)).status === 503, 5_000);
    // The stream does not need the store: it is still open while the subscription is down.
    const stillOpen = await Promise.race([
      reader.read().then(() => false),
      new Promise((r) => setTimeout(r, 300, true)),
    ]);
    expect(stillOpen).toBe(true);

    await redis.start();
    await waitFor(async () => (await fetch(`${escrow.adminUrl}/readyz`)).status === 200, 8_000);
    const ended = async () => {
      for (;;) if ((await reader.read()).done) return 'ended';
    };
    const open = new Promise((resolve) => setTimeout(resolve, 5_000, 'still open')).then((v) => v as string);
    expect(await Promise.race([ended().catch(() => 'ended'), open])).toBe('ended');
    expect(await scrape(escrow.adminUrl, 'escrow_connections_cut_total', { reason: 'task_closed' })).toBe(
      cutBefore + 1,
    );
    expect(escrow.output()).not.toContain(CANARY);
  });
});
