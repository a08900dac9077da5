import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultUpstream, startFaultUpstream } from '../reliability/support/fault-upstreams.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';
import { wsConnect } from './support/ws.js';

/**
 * #22: the WebSocket path was a second copy of the pipeline that never asked the target's circuit breaker, so a
 * failing upstream kept receiving every upgrade. Upgrades and plain requests now share one breaker per target.
 */
describe('WebSocket upgrades ask the target’s circuit breaker, like plain requests', () => {
  let upstream: FaultUpstream;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    // A load balancer in front of a dead service: every request, upgrades included, gets 503.
    upstream = await startFaultUpstream((_req, res) => void res.writeHead(503, { 'content-length': '0' }).end());
    escrow = await startLoggedEscrow({
      env: { KEY: 'canary-ws-breaker-4c2a' },
      targets: [
        headerTarget('ws', upstream.url, {
          websocket: true,
          // Long enough that no probe is let through while the test runs, however slow the machine.
          circuitBreaker: { failureThreshold: 2, coolDownMs: 600_000 },
        }),
      ],
    });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['ws']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('opens after two failed upgrades, then refuses upgrades and requests without reaching the upstream', async () => {
    for (let i = 0; i < 2; i++) {
      const ws = await wsConnect(escrow.port, '/ws/chat', headers);
      expect(ws.status).toBe(503); // the upstream's own refusal, relayed
      await ws.closed;
    }
    expect(upstream.total()).toBe(2);

    const refused = await wsConnect(escrow.port, '/ws/chat', headers);
    expect(refused.status).toBe(503);
    await refused.closed;
    expect(JSON.parse(refused.body())).toMatchObject({ code: 'circuit_open', reason: 'circuit_open' });
    expect(upstream.total()).toBe(2);

    const plain = await fetch(`${escrow.url}/ws/x`, { headers });
    expect(plain.status).toBe(503);
    expect(await plain.json()).toMatchObject({ code: 'circuit_open' });
    expect(upstream.total()).toBe(2);
  });
});
