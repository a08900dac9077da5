import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { type Answer, burst, problemOf, timedFetch } from './support/load.js';
import { scrape } from './support/metrics.js';
import { waitFor } from './support/ports.js';
import { type OwnRedis, startOwnRedis } from './support/redis-server.js';

const CANARY = 'canary-redis-outage-5d1e0a';
const STORE_TIMEOUT_MS = 300;
// The timeout is the behaviour an operator configures, so answers are timed; the bound is ten times it: without
// the timeout a request waits for Redis until the test times out, so no bound this generous hides a hang, and no
// loaded machine adds this much to a refusal.
const ANSWER_BOUND_MS = 10 * STORE_TIMEOUT_MS;
// A frozen Redis is noticed when a subscriber ping (one a second) goes unanswered for storeTimeoutMs.
const DETECTION_MS = 1_000 + STORE_TIMEOUT_MS;

interface Rig {
  redis: OwnRedis;
  upstream: TestUpstream;
  escrow: EscrowProcess;
  token: string;
}

async function startRig(): Promise<Rig> {
  const redis = await startOwnRedis();
  const upstream = await startUpstream();
  const escrow = await startEscrowProcess({
    store: redis.url,
    targets: [echoTarget(upstream.url, 'env:ECHO_KEY')],
    env: { ECHO_KEY: CANARY },
    // Repeated identical denials are counted per window (docs/audit.md): a 1 s window lets the counts show.
    config: { storeTimeoutMs: STORE_TIMEOUT_MS, audit: { sinks: ['file:audit.log'], noise: { intervalSeconds: 1 } } },
  }).catch(async (error: unknown) => {
    await upstream.close();
    await redis.close(); // never leave a redis-server of ours running
    throw error;
  });
  await waitFor(async () => (await fetch(`${escrow.adminUrl}/readyz`)).status === 200);
  return { redis, upstream, escrow, token: await escrow.token() };
}

async function stopRig(rig: Rig | undefined): Promise<void> {
  await rig?.escrow.close();
  await rig?.upstream.close();
  await rig?.redis.close();
}

const call = (rig: Rig, task: string) =>
  timedFetch(`${rig.escrow.url}/echo/items`, {
    headers: { authorization: `Bearer ${rig.token}`, 'x-escrow-task': task },
  });

const readyStatus = async (rig: Rig) => (await fetch(`${rig.escrow.adminUrl}/readyz`)).status;

function expectStoreUnavailable(answers: readonly Answer[]): void {
  for (const answer of answers) {
    expect(answer.status, answer.body).toBe(503);
    expect(problemOf(answer).code).toBe('store_unavailable');
    expect(answer.ms).toBeLessThan(ANSWER_BOUND_MS);
    expect(answer.body).not.toContain(CANARY);
  }
}

describe('a Redis that is killed under load: 503 at once, /readyz fails, and service resumes when it is back', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(() => stopRig(rig));

  it('answers requests for a cached task and lease with 503 once Redis is gone (fail closed), never hanging', async () => {
    const task = await rig.escrow.openTask(rig.token, ['echo']);
    expect((await call(rig, task)).status).toBe(200); // the task and lease are now cached in the replica
    const errorsBefore = await scrape(rig.escrow.adminUrl, 'escrow_store_errors_total');
    await rig.redis.kill();
    await waitFor(async () => (await readyStatus(rig)) === 503, 3_000);
    const answers = await burst(60, 12, () => call(rig, task));
    expectStoreUnavailable(answers);
    const opening = await timedFetch(`${rig.escrow.url}/_escrow/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rig.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'during the outage', targets: ['echo'] }),
    });
    expectStoreUnavailable([opening]);
    expect(await scrape(rig.escrow.adminUrl, 'escrow_store_errors_total')).toBeGreaterThan(errorsBefore);
    const readyz = (await (await fetch(`${rig.escrow.adminUrl}/readyz`)).json()) as { checks: Record<string, string> };
    expect(readyz.checks).toMatchObject({ store: 'unavailable', revocations: 'down' });
    const messages = rig.escrow.logs().map((l) => String(l.msg));
    expect(messages).toContain('store command failed');
    expect(messages).toContain('revocation subscription down: lease and task caches bypassed');
    // Each refusal is in the trail: the first of its kind in full, the repeats counted (denials.aggregated).
    const refusals = () => {
      const events = rig.escrow.auditEvents().filter((e) => e.status === 503);
      const single = events.filter((e) => e.event === 'request');
      const counted = events.filter((e) => e.event === 'denials.aggregated' && e.of === 'request');
      expect([...single, ...counted].every((e) => e.reason === 'store_unavailable')).toBe(true);
      return single.length + counted.reduce((sum, e) => sum + Number(e.count), 0);
    };
    await expect.poll(refusals, { timeout: 5_000 }).toBeGreaterThanOrEqual(answers.length);
  });

  it('serves again without a restart once Redis is back (a new, empty Redis: old tasks are gone)', async () => {
    await rig.redis.start();
    await waitFor(async () => (await readyStatus(rig)) === 200, 8_000);
    const task = await rig.escrow.openTask(rig.token, ['echo']);
    const answers = await burst(20, 5, () => call(rig, task));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(rig.upstream.requests.at(-1)?.headers['x-api-key']).toBe(CANARY);
    expect(rig.escrow.output()).not.toContain(CANARY);
  });
});

describe('a Redis that stops answering (frozen, connections open): 503 within storeTimeoutMs, then resumes', () => {
  let rig: Rig;
  let task: string;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    rig?.redis.thaw();
    await stopRig(rig);
  });

  it('times commands out at storeTimeoutMs; a cached lease serves only until the subscriber misses a ping', async () => {
    task = await rig.escrow.openTask(rig.token, ['echo']);
    expect((await call(rig, task)).status).toBe(200);
    const frozenAt = performance.now();
    rig.redis.freeze();
    // Nothing tells this replica that Redis froze until a ping of the subscriber goes unanswered (pinged every
    // second, answer due within storeTimeoutMs). Until then the cache is trusted, exactly as while Redis is up:
    // any revocation must pass through the same Redis, so the window is bounded by the detection interval.
    await waitFor(async () => (await call(rig, task)).status === 503, 10 * DETECTION_MS, 50);
    expect(performance.now() - frozenAt).toBeLessThan(4 * DETECTION_MS); // the window is bounded, if loosely
    const readyz = (await (await fetch(`${rig.escrow.adminUrl}/readyz`)).json()) as { checks: Record<string, string> };
    expect(readyz.checks).toMatchObject({ store: 'unavailable', revocations: 'down' });
    const answers = await burst(24, 12, () => call(rig, task));
    expectStoreUnavailable(answers);
    expect(answers.every((a) => a.ms >= STORE_TIMEOUT_MS - 50)).toBe(true); // each waited for its own timeout
  });

  it('resumes with the same task once Redis answers again', async () => {
    const opened = await rig.escrow.openTask(rig.token, ['echo']).catch(() => undefined);
    expect(opened).toBeUndefined(); // still frozen: opening a task fails too
    rig.redis.thaw();
    await waitFor(async () => (await readyStatus(rig)) === 200, 8_000);
    expect((await call(rig, task)).status).toBe(200); // nothing was lost: the task and its lease are still there
    expect((await call(rig, await rig.escrow.openTask(rig.token, ['echo']))).status).toBe(200);
  });
});
