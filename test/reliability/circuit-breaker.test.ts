import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { type FaultUpstream, startFaultUpstream } from './support/fault-upstreams.js';
import { problemOf, timedFetch } from './support/load.js';
import { scrape } from './support/metrics.js';

const COOL_DOWN_MS = 400;

describe('a target’s circuit opens after consecutive failures, fails fast while open, and one probe closes it', () => {
  let mode: 'down' | 'up' = 'down';
  let upstream: FaultUpstream;
  let escrow: TestEscrow;
  let token: string;
  let task: string;

  beforeAll(async () => {
    upstream = await startFaultUpstream((req: IncomingMessage, res: ServerResponse) => {
      if (mode === 'down') return void req.socket.destroy();
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'), 150); // a slow probe
    });
    escrow = await startEscrow({
      store: 'memory',
      env: { KEY: 'canary-breaker-1c9e' },
      targets: [
        {
          name: 'flaky',
          upstream: upstream.url,
          attributes: { sensitivity: 'low', environment: 'dev' },
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
          circuitBreaker: { failureThreshold: 3, coolDownMs: COOL_DOWN_MS },
        },
      ],
    });
    token = await escrow.token();
    task = await escrow.openTask(token, ['flaky']);
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const call = () =>
    timedFetch(`${escrow.url}/flaky/x`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });
  const metric = (name: string) => scrape(escrow.adminUrl, name, { target: 'flaky' });

  it('lets the first three failures reach the upstream, then refuses without calling it', async () => {
    for (let i = 0; i < 3; i++) expect((await call()).status).toBe(502);
    expect(upstream.total()).toBe(3);
    const refused = await call();
    expect(refused.status).toBe(503);
    expect(problemOf(refused)).toMatchObject({ code: 'circuit_open', reason: 'circuit_open' });
    expect(refused.ms).toBeLessThan(500); // at once: no upstream attempt (generous for a loaded CI box)
    expect(upstream.total()).toBe(3);
    expect(await metric('escrow_circuit_state')).toBe(1);
    expect(await metric('escrow_circuit_open_total')).toBe(1);
    const event = (await escrow.auditEvents()).findLast((e) => e.event === 'request');
    expect(event).toMatchObject({ status: 503, reason: 'circuit_open' });
  });

  it('after the cool-down lets exactly one probe through while the others still fail fast', async () => {
    await new Promise((resolve) => setTimeout(resolve, COOL_DOWN_MS));
    mode = 'up';
    const answers = await Promise.all(Array.from({ length: 5 }, () => call()));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => problemOf(a).reason === 'circuit_open')).toHaveLength(4);
    expect(upstream.total()).toBe(4);
  });

  it('is closed after a successful probe: every request goes through again', async () => {
    expect(await metric('escrow_circuit_state')).toBe(0);
    const answers = await Promise.all(Array.from({ length: 5 }, () => call()));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
  });

  it('opens again for a whole cool-down when the probe fails', async () => {
    mode = 'down';
    for (let i = 0; i < 3; i++) await call();
    expect(await metric('escrow_circuit_open_total')).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, COOL_DOWN_MS));
    const before = upstream.total();
    expect((await call()).status).toBe(502); // the probe, failing
    expect(upstream.total()).toBe(before + 1);
    expect(problemOf(await call()).reason).toBe('circuit_open');
    expect(await metric('escrow_circuit_open_total')).toBe(3);
  });
});
