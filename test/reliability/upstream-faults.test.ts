import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import {
  blackHole,
  type FaultUpstream,
  neverAnswers,
  refusedPort,
  resetMidBody,
  slowBody,
  slowHeaders,
  startFaultUpstream,
} from './support/fault-upstreams.js';
import { problemOf, timedFetch } from './support/load.js';
import { scrape } from './support/metrics.js';

const CANARY = 'canary-upstream-faults-77b2c4';
const HEADERS_TIMEOUT_MS = 400;
const BODY_TIMEOUT_MS = 400;
const CONNECT_TIMEOUT_MS = 300;
// A refused connection must not wait for the connect timeout: its target gets a long one, so "at once" is measured
// against a bound a loaded machine cannot reach by accident (a first request also pays for admission).
const REFUSED_CONNECT_TIMEOUT_MS = 10_000;
// The timeouts are the behaviour, so answers are timed: never before the timeout, and within this bound. undici
// checks its timeouts on a coarse timer (about a second) and a loaded machine adds more; the slow upstreams answer
// only after SLOW_MS, so an answer within the bound and with a 504 is the timeout firing, not the upstream.
const FIRED_WITHIN_MS = 5_000;
const SLOW_MS = 2 * FIRED_WITHIN_MS;

const target = (name: string, upstream: string, connectTimeoutMs = CONNECT_TIMEOUT_MS) => ({
  name,
  upstream,
  attributes: { sensitivity: 'low', environment: 'dev' },
  credential: { adapter: 'header', header: 'x-api-key', value: 'env:FAULT_KEY', ttl: 300 },
  limits: {
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: BODY_TIMEOUT_MS,
    connectTimeoutMs,
  },
});

describe('upstream faults become 502/504 within the target’s timeouts, and nothing is retried', () => {
  const upstreams: Record<string, FaultUpstream> = {};
  let hole: Awaited<ReturnType<typeof blackHole>>;
  let escrow: TestEscrow;
  let token: string;
  let task: string;

  beforeAll(async () => {
    upstreams.reset = await startFaultUpstream(resetMidBody);
    upstreams.slowHeaders = await startFaultUpstream(slowHeaders(SLOW_MS));
    upstreams.slowBody = await startFaultUpstream(slowBody(SLOW_MS));
    upstreams.silent = await startFaultUpstream(neverAnswers);
    upstreams.hangup = await startFaultUpstream((req) => req.socket.destroy());
    hole = await blackHole();
    escrow = await startEscrow({
      store: 'memory',
      env: { FAULT_KEY: CANARY },
      targets: [
        target('refused', `http://127.0.0.1:${await refusedPort()}`, REFUSED_CONNECT_TIMEOUT_MS),
        target('reset', upstreams.reset.url),
        target('slow-headers', upstreams.slowHeaders.url),
        target('slow-body', upstreams.slowBody.url),
        target('silent', upstreams.silent.url),
        target('hangup', upstreams.hangup.url),
        target('blackhole', `http://127.0.0.1:${hole.port}`),
      ],
    });
    token = await escrow.token();
    task = await escrow.openTask(token, [...escrow.gw.targets.keys()]);
  });
  afterAll(async () => {
    await escrow?.close();
    for (const upstream of Object.values(upstreams)) await upstream.close();
    hole?.close();
  });

  const call = (name: string, init: RequestInit = {}) =>
    timedFetch(`${escrow.url}/${name}/x`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task, ...(init.headers ?? {}) },
    });

  it('answers a refused connection with 502 upstream_unavailable at once', async () => {
    const answer = await call('refused');
    expect(answer.status).toBe(502);
    expect(problemOf(answer).code).toBe('upstream_unavailable');
    expect(answer.ms).toBeLessThan(REFUSED_CONNECT_TIMEOUT_MS / 2);
    expect(await scrape(escrow.adminUrl, 'escrow_upstream_errors_total', { target: 'refused', kind: 'connect' })).toBe(
      1,
    );
  });

  it('answers a host that never completes the handshake with 504 after connectTimeoutMs', async () => {
    const answer = await call('blackhole');
    expect(answer.status).toBe(504);
    expect(problemOf(answer).code).toBe('upstream_timeout');
    expect(answer.ms).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 20);
    expect(answer.ms).toBeLessThan(FIRED_WITHIN_MS);
  });

  it('answers slow headers with 504 after headersTimeoutMs', async () => {
    const answer = await call('slow-headers');
    expect(answer.status).toBe(504);
    expect(answer.ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 20);
    expect(answer.ms).toBeLessThan(FIRED_WITHIN_MS);
  });

  it('answers an upstream that reads the request and never answers with 504 after headersTimeoutMs', async () => {
    const answer = await call('silent');
    expect(answer.status).toBe(504);
    expect(answer.ms).toBeLessThan(FIRED_WITHIN_MS);
    expect(await scrape(escrow.adminUrl, 'escrow_upstream_errors_total', { target: 'silent', kind: 'timeout' })).toBe(
      1,
    );
  });

  it('cuts the agent’s response when the body stalls past bodyTimeoutMs (the status was already sent)', async () => {
    const answer = await call('slow-body');
    expect(answer.status).toBe(0); // fetch saw the 200 head, then the connection was destroyed mid-body
    expect(answer.ms).toBeLessThan(FIRED_WITHIN_MS);
    const events = await escrow.auditEvents();
    const event = events.findLast((e) => e.event === 'request' && e.target === 'slow-body');
    expect(event).toMatchObject({ status: 504, reason: 'upstream_timeout' });
  });

  it('cuts the agent’s response when the upstream resets mid-body, and records it as a reset', async () => {
    const answer = await call('reset');
    expect(answer.status).toBe(0);
    expect(await scrape(escrow.adminUrl, 'escrow_upstream_errors_total', { target: 'reset', kind: 'reset' })).toBe(1);
    const event = (await escrow.auditEvents()).findLast((e) => e.event === 'request' && e.target === 'reset');
    expect(event).toMatchObject({ status: 502, reason: 'upstream_error' });
  });

  it('sends a POST exactly once when the upstream hangs up on it (no retry of a non-idempotent request)', async () => {
    const answer = await call('hangup', {
      method: 'POST',
      body: '{"n":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(answer.status).toBe(502);
    expect(upstreams.hangup!.counts.get('POST')).toBe(1);
  });

  it('does not retry a GET either: one attempt per request, the agent decides', async () => {
    const answer = await call('hangup');
    expect(answer.status).toBe(502);
    expect(upstreams.hangup!.counts.get('GET')).toBe(1);
  });

  it('never puts the injected key in an error answer', async () => {
    for (const name of ['refused', 'slow-headers', 'hangup']) expect((await call(name)).body).not.toContain(CANARY);
  });
});
