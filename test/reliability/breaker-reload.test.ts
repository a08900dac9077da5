import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { type FaultUpstream, startFaultUpstream } from './support/fault-upstreams.js';
import { problemOf, timedFetch } from './support/load.js';
import { waitFor } from './support/ports.js';

type Target = Record<string, unknown>;

/**
 * Regression (#22): breakers lived in a WeakMap keyed by the target object, and a reload replaced the targets, so a
 * SIGHUP closed every open circuit and the first request after it hit the failing upstream again. The gateway now
 * owns each target's breaker and a reload carries it over while the target's upstream stays the same.
 */
describe('an open circuit stays open across a SIGHUP reload; a target moved to another upstream starts closed', () => {
  let failing: FaultUpstream;
  let healthy: FaultUpstream;
  let escrow: EscrowProcess;
  let token: string;
  let task: string;

  beforeAll(async () => {
    failing = await startFaultUpstream((_req, res) => void res.writeHead(503).end('down'));
    healthy = await startFaultUpstream((_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end());
    escrow = await startEscrowProcess({
      store: 'memory://',
      files: { 'key-v1': 'canary-breaker-reload-v1-5d1e', 'key-v2': 'canary-breaker-reload-v2-8a0c' },
      targets: [
        {
          name: 'flaky',
          upstream: failing.url,
          attributes: { sensitivity: 'low', environment: 'dev' },
          credential: { adapter: 'header', header: 'x-api-key', value: 'file:key-v1', ttl: 300 },
          // Long enough that no probe is let through while the test runs, however slow the machine.
          circuitBreaker: { failureThreshold: 3, coolDownMs: 600_000 },
        },
      ],
    });
    token = await escrow.token();
    task = await escrow.openTask(token, ['flaky']);
  });
  afterAll(async () => {
    await escrow?.close();
    await failing?.close();
    await healthy?.close();
  });

  const call = () =>
    timedFetch(`${escrow.url}/flaky/x`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });

  const editTarget = (edit: (t: Target) => Target) =>
    escrow.rewriteConfig((config) => ({ ...config, targets: (config.targets as Target[]).map(edit) }));

  async function hangup(): Promise<Record<string, unknown>> {
    const reloads = () => escrow.logs().filter((l) => String(l.msg).startsWith('SIGHUP'));
    const count = reloads().length;
    escrow.proc.kill('SIGHUP');
    await waitFor(() => reloads().length > count, 10_000);
    return reloads().at(-1)!;
  }

  it('refuses the first request after a reload with the open circuit, without reaching the upstream', async () => {
    for (let i = 0; i < 3; i++) expect((await call()).status).toBe(503); // the upstream's own 503s
    expect(failing.total()).toBe(3);
    const open = await call();
    expect(problemOf(open)).toMatchObject({ code: 'circuit_open' });
    expect(failing.total()).toBe(3);

    // A reload that applies something (a new credential) but leaves the upstream alone.
    editTarget((t) => ({ ...t, credential: { ...(t.credential as Target), value: 'file:key-v2' } }));
    expect(await hangup()).toMatchObject({ msg: 'SIGHUP: config reloaded', targets: ['flaky'] });

    const after = await call();
    expect(after.status).toBe(503);
    expect(problemOf(after)).toMatchObject({ code: 'circuit_open', reason: 'circuit_open' });
    expect(failing.total()).toBe(3);
  });

  it('gives a target whose upstream URL changed a fresh, closed breaker', async () => {
    editTarget((t) => ({ ...t, upstream: healthy.url }));
    expect(await hangup()).toMatchObject({ msg: 'SIGHUP: config reloaded', targets: ['flaky'] });
    const moved = await call();
    expect(moved.status).toBe(200);
    expect(healthy.total()).toBe(1);
    expect(failing.total()).toBe(3);
  });
});
