import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw.js';
import { echoHandler, startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';
import { buildRequest, type Credentials } from './support/raw-request.js';

const CANARY = 'canary-limits-4e8a0c2f7d19';

/** The value of `escrow_limits_exceeded_total{limit}` (0 when absent). */
async function limitCount(escrow: LoggedEscrow, limit: string): Promise<number> {
  const line = (await escrow.metrics())
    .split('\n')
    .find((l) => l.startsWith(`escrow_limits_exceeded_total{limit="${limit}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('each limit answers a clear status and counts in escrow_limits_exceeded_total', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let creds: Credentials;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url.startsWith('/hold')) held.push(res);
      else if (req.url.startsWith('/hang')) return;
      else echoHandler(req, res);
    });
    escrow = await startLoggedEscrow({
      env: { KEY: CANARY },
      proxy: { maxHeaderBytes: 4096, maxConcurrentPerPrincipal: 2, requestTimeoutMs: 500 },
      targets: [headerTarget('echo', upstream.url, { limits: { maxBodyBytes: 1024, headersTimeoutMs: 300 } })],
    });
    const token = await escrow.token();
    creds = { token, task: await escrow.openTask(token, ['echo']) };
  });
  afterAll(async () => {
    for (const res of held) res.end();
    await escrow?.close();
    await upstream?.close();
  });

  const send = (headers: string[], extra: { method?: string; body?: string; target?: string } = {}) =>
    rawExchange(escrow.port, buildRequest({ name: '', headers, ...extra }, creds), 3_000);

  it('431 for headers over proxy.maxHeaderBytes, without echoing them', async () => {
    const before = await limitCount(escrow, 'header_size');
    const res = await send([`X-Big: ${'a'.repeat(5000)}`]);
    expect(res.status).toBe(431);
    expect(res.raw).not.toContain(creds.token);
    expect(await limitCount(escrow, 'header_size')).toBe(before + 1);
  });

  it('413 for a declared Content-Length over the target’s maxBodyBytes, upstream never called', async () => {
    const before = upstream.requests.length;
    const counted = await limitCount(escrow, 'body_size');
    const res = await send(['Content-Length: 2000'], { method: 'POST', body: 'x'.repeat(2000) });
    expect(res.status).toBe(413);
    expect(upstream.requests.length).toBe(before);
    expect(await limitCount(escrow, 'body_size')).toBe(counted + 1);
  });

  it('413 for a chunked body that grows over maxBodyBytes', async () => {
    const counted = await limitCount(escrow, 'body_size');
    const chunk = 'y'.repeat(600);
    const body = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`;
    const res = await send(['Transfer-Encoding: chunked'], { method: 'POST', body });
    expect(res.status).toBe(413);
    expect(await limitCount(escrow, 'body_size')).toBe(counted + 1);
    expect(upstream.requests.some((r) => r.body.length > 1024)).toBe(false);
  });

  it('429 past proxy.maxConcurrentPerPrincipal in flight, and the slots come back', async () => {
    const counted = await limitCount(escrow, 'concurrency');
    const first = send([], { target: '/echo/hold/1' });
    const second = send([], { target: '/echo/hold/2' });
    await waitFor(() => held.length === 2);
    const third = await send([], { target: '/echo/x' });
    expect(third.status).toBe(429);
    expect(JSON.parse(third.body)).toMatchObject({ code: 'too_many_requests', status: 429 });
    expect(await limitCount(escrow, 'concurrency')).toBe(counted + 1);
    for (const res of held.splice(0)) res.end('done');
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect((await send([], { target: '/echo/x' })).status).toBe(200);
  });

  it('408 when the request head does not arrive within proxy.requestTimeoutMs', async () => {
    const counted = await limitCount(escrow, 'request_timeout');
    const res = await rawExchange(escrow.port, 'GET /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\n', 5_000);
    expect(res.status).toBe(408);
    expect(await limitCount(escrow, 'request_timeout')).toBe(counted + 1);
  });

  it('504 when the upstream does not answer within the target’s headersTimeoutMs', async () => {
    const res = await send([], { target: '/echo/hang' });
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'upstream_timeout' });
    expect(await escrow.metrics()).toMatch(/escrow_upstream_errors_total\{target="echo",kind="timeout"\} [1-9]/);
  });
});

describe('an agent that aborts mid-body frees the upstream connection and its concurrency slot', () => {
  it('serves the next request on a one-connection pool after aborted chunked and Content-Length bodies', async () => {
    const upstream = await startUpstream();
    const escrow = await startLoggedEscrow({
      env: { KEY: CANARY },
      proxy: { maxConcurrentPerPrincipal: 1 },
      targets: [headerTarget('echo', upstream.url, { pool: { connections: 1, keepAliveTimeoutMs: 1_000 } })],
    });
    try {
      const token = await escrow.token();
      const creds = { token, task: await escrow.openTask(token, ['echo']) };
      const bodies = [
        [['Transfer-Encoding: chunked'], '5\r\nab'],
        [['Content-Length: 10'], 'ab'],
      ] as const;
      // The agent leaves at different stages: before identity is verified, during the lease, while forwarding.
      for (const delay of [1, 5, 20, 150]) {
        for (const [headers, body] of bodies) {
          const socket = connect(escrow.port, '127.0.0.1');
          socket.on('error', () => {});
          socket.write(buildRequest({ name: '', method: 'POST', headers, body }, creds));
          await new Promise((r) => setTimeout(r, delay));
          socket.destroy();
        }
      }
      await waitFor(() => escrow.gw.inFlight.total === 0);
      const res = await rawExchange(escrow.port, buildRequest({ name: '' }, creds), 3_000);
      expect(res.status).toBe(200);
    } finally {
      await escrow.close();
      await upstream.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
