import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';
import { buildRequest } from './support/raw-request.js';

/*
 * A pipelined request's response has no socket until the answers before it are sent. An agent that pipelines a
 * request behind one the upstream holds, then disconnects, used to leave that second exchange waiting for ever: its
 * response never got a 'close', so its upstream request (a stream, paused because nobody could take its bytes),
 * the target's connection, the principal's slot and the task binding were never let go. Two such agents took a
 * two-connection target away from everyone (503 upstream_busy). Found by review.
 */
const KEY = 'canary-pipelined-orphan-5d1e';

describe('an agent that pipelines requests and disconnects takes nothing with it', () => {
  let escrow: LoggedEscrow;
  let upstream: Server;
  const seen: string[] = [];
  const open: ServerResponse[] = [];
  let streamsClosed = 0;
  beforeAll(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      seen.push(req.url ?? '');
      open.push(res);
      if (req.url?.startsWith('/hold')) return; // never answered
      if (req.url?.startsWith('/plain')) return void res.end('plain-ok');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const timer = setInterval(() => res.write(`data: ${'x'.repeat(1000)}\n\n`), 5);
      res.on('close', () => {
        clearInterval(timer);
        streamsClosed += 1;
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    escrow = await startLoggedEscrow({
      env: { KEY },
      targets: [headerTarget('echo', url, { pool: { connections: 2 } })],
    });
  });
  afterAll(async () => {
    for (const res of open) res.destroy();
    upstream.closeAllConnections();
    await escrow?.close();
    upstream.close();
  });

  it('lets go of the upstream request, the connection and the slots, and the target keeps serving', async () => {
    for (let i = 0; i < 2; i++) {
      const token = await escrow.token({ sub: `spiffe://test.example/agent/pipeliner-${i}` });
      const task = await escrow.openTask(token, ['echo']);
      const head = (path: string) =>
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nX-Escrow-Task: ${task}\r\n\r\n`;
      const agent = connect(escrow.port, '127.0.0.1');
      agent.on('error', () => {});
      const before = seen.length;
      agent.write(head('/echo/hold') + head('/echo/stream'));
      while (seen.length < before + 2) await sleep(5); // both reached the upstream
      agent.destroy();
      while (streamsClosed < i + 1) await sleep(5); // the stream's upstream request is aborted
    }
    while (escrow.gw.inFlight.total > 0) await sleep(5); // and every slot given back
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['echo']);
    const res = await rawExchange(escrow.port, buildRequest({ name: '' }, { token, task }, '/echo/plain'), 8_000);
    expect(res.status).toBe(200);
    expect(res.body).toContain('plain-ok');
  }, 30_000);
});
