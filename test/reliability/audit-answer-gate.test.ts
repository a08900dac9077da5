import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escrowCli } from '../audit/support/trail.js';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from './support/ports.js';
import { type OwnRedis, startOwnRedis } from './support/redis-server.js';

const KEY = 'canary-answer-gate-key-77f0';

/**
 * The answer waits for its event: with the only audit sink frozen (a Redis that stops answering), a request the
 * upstream answered is never completed for the agent; once the sink is back, answers complete again and the trail
 * verifies. The agent cannot get a whole answer the trail does not hold.
 */
describe('an answer is completed only once its audit event is written', () => {
  let redis: OwnRedis;
  let upstream: TestUpstream;
  let escrow: EscrowProcess;
  let call: () => Promise<Response>;

  beforeAll(async () => {
    redis = await startOwnRedis();
    upstream = await startUpstream();
    escrow = await startEscrowProcess({
      store: redis.url,
      config: { storeTimeoutMs: 300, audit: { sinks: ['redis'], commitTimeoutMs: 600 } },
      env: { GATE_KEY: KEY },
      targets: [echoTarget(upstream.url, 'env:GATE_KEY')],
    });
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['echo']);
    call = () =>
      fetch(`${escrow.url}/echo/gate`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });
    const warm = await call(); // task and lease now cached: the next request needs Redis only for its event
    expect(warm.status).toBe(200);
    await warm.text();
  }, 60_000);
  afterAll(async () => {
    redis?.thaw();
    await escrow?.close();
    await upstream?.close();
    await redis?.close();
  });

  it('cuts the answer the upstream gave while the sink cannot take its event', async () => {
    const seen = upstream.requests.length;
    redis.freeze();
    try {
      // Never completed: cut before its head (a short answer is held whole by the scrubber's window, so fetch itself
      // rejects) or after it (reading the body fails).
      await expect(call().then((res) => res.text())).rejects.toThrow();
      expect(upstream.requests.length).toBe(seen + 1); // the upstream did answer
    } finally {
      redis.thaw();
    }
  });

  it('answers whole again once the sink writes, and the trail verifies', async () => {
    await waitFor(async () => (await fetch(`${escrow.adminUrl}/readyz`)).status === 200, 15_000);
    await waitFor(async () => {
      const res = await call();
      return res.status === 200 && (await res.text()).includes('/gate');
    }, 15_000);
    await escrow.stop();
    const verify = await escrowCli(['audit', 'verify', '--config', escrow.configPath]);
    expect(verify.stdout).toMatch(/^OK: /);
    expect(verify.code).toBe(0);
  });
});
