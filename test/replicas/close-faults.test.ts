import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mint, mintTarget, startMint } from '../leases/support/mint.js';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { createIssuerKeys, type IssuerKeys, signToken } from '../support/keys.js';
import { deletePrefix, testPrefix } from '../support/redis.js';
import { type FaultAction, type RespProxy, startRespProxy } from '../support/resp-proxy.js';
import { CLOSE_STEPS, type CloseStep, leftovers, stepRule, untilEvery } from './support/close-faults.js';
import { percentile } from './support/latency.js';

const STORE_TIMEOUT_MS = 300;
const ACTIONS: readonly FaultAction[] = ['delay', 'drop', 'drop-reply'];

/**
 * Issue #15, failure 1: a close that fails halfway must not leave the task alive. Two `escrow start` processes
 * reach Redis through a fault-injecting proxy; each step of a close (every store command it sends, from reading
 * the task to after its 204) is delayed past `storeTimeoutMs` (it then runs late), dropped with its connection, or
 * run with its reply dropped. Whatever the close answered, both replicas must refuse the task soon after the store is
 * reachable again, the upstream must stop accepting the minted key, a retry on the other replica must answer 204,
 * and nothing may be left behind.
 */
describe('a close converges whatever store command of it fails, on two replica processes', () => {
  const prefix = testPrefix('close-faults');
  let keys: IssuerKeys;
  let mint: Mint;
  let proxy: RespProxy;
  let a: EscrowProcess;
  let b: EscrowProcess;
  let token: string;
  let stranger: string;
  const refusals: { step: CloseStep; action: FaultAction; ms: number; answered: number }[] = [];

  beforeAll(async () => {
    keys = await createIssuerKeys();
    mint = await startMint();
    proxy = await startRespProxy();
    const shared = {
      prefix,
      keys,
      secrets: { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') },
      targets: [mintTarget(mint)],
      config: { store: proxy.url, storeTimeoutMs: STORE_TIMEOUT_MS, tasks: { maxOpenPerPrincipal: 1_000 } },
    };
    [a, b] = await Promise.all([startEscrowProcess(shared), startEscrowProcess(shared)]);
    token = await signToken(keys);
    stranger = await signToken(keys, { sub: 'spiffe://test.example/agent/stranger' });
  }, 60_000);
  afterAll(async () => {
    const table = refusals.map((r) => `${r.step}/${r.action}: ${r.ms.toFixed(1)} ms (close answered ${r.answered})`);
    console.log(`refused on both replicas after the fault ended:\n  ${table.join('\n  ')}`);
    await Promise.all([a?.close(), b?.close()]);
    await proxy?.close();
    await mint?.close();
    await deletePrefix(prefix);
  });

  const auth = (who = token) => ({ authorization: `Bearer ${who}` });
  // 0: the request was cut (it was in flight when the close reached this replica).
  const call = async (url: string, task: string) => {
    try {
      const res = await fetch(`${url}/minted/items`, { headers: { ...auth(), 'x-escrow-task': task } });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  };
  const close = (url: string, task: string, who = token) =>
    fetch(`${url}/_escrow/tasks/${task}`, { method: 'DELETE', headers: auth(who) });

  const scenarios = CLOSE_STEPS.flatMap((step) => ACTIONS.map((action) => [step, action] as const));

  it.each(scenarios)(
    '%s fails (%s): refused everywhere, revoked upstream, retry 204, nothing left',
    async (step, action) => {
      const res = await fetch(`${a.url}/_escrow/tasks`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json' },
        body: JSON.stringify({ intent: `close under fault: ${step} ${action}`, targets: ['minted'] }),
      });
      const task = ((await res.json()) as { id: string }).id;
      expect([await call(a.url, task), await call(b.url, task)]).toEqual([200, 200]); // both cache it
      const minted = mint.keys.find((k) => k.taskId === task)!;

      const fault = proxy.inject(stepRule(prefix, task, step, action));
      const closing = close(a.url, task);
      await Promise.race([
        fault.done,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`fault never hit: ${proxy.seen.slice(-20).join(' | ')}`)), 10_000),
        ),
      ]);
      const refusedAt = await untilEvery([a.url, b.url], (url) => call(url, task), 403);
      const answered = (await closing).status;
      expect([204, 503]).toContain(answered);
      refusals.push({ step, action, ms: refusedAt - fault.endedAt!, answered });

      expect((await close(b.url, task, stranger)).status).toBe(404); // not an oracle for others
      expect((await close(b.url, task)).status).toBe(204); // the owner's retry, on the other replica
      await expect.poll(() => minted.revokedAt, { timeout: 10_000 }).toBeTypeOf('number');
      await expect.poll(() => leftovers(prefix, task), { timeout: 10_000 }).toEqual([]);
      expect([await call(a.url, task), await call(b.url, task)]).toEqual([403, 403]);
    },
  );

  it('a close whose replica crashed after the tombstone is finished by the other replica, from the outbox', async () => {
    const res = await fetch(`${a.url}/_escrow/tasks`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'closer crashes', targets: ['minted'] }),
    });
    const task = ((await res.json()) as { id: string }).id;
    expect([await call(a.url, task), await call(b.url, task)]).toEqual([200, 200]);
    const minted = mint.keys.find((k) => k.taskId === task)!;
    const fault = proxy.inject(stepRule(prefix, task, 'take', 'hold'));
    const closing = close(a.url, task).catch(() => undefined); // A dies before it answers
    await expect.poll(() => fault.hits).toBe(1);
    await a.kill(); // after the tombstone, before the leases were taken: nobody in this process will finish
    await closing;
    expect(await call(b.url, task)).toBe(403);
    // B's outbox sweep takes the close over once it is due (10 s after it started), then revokes the key.
    await expect.poll(() => minted.revokedAt, { timeout: 20_000, interval: 200 }).toBeTypeOf('number');
    await expect.poll(() => leftovers(prefix, task), { timeout: 10_000 }).toEqual([]);
  }, 40_000);

  it('refuses on both replicas within a bounded time of the store being reachable again', () => {
    // A delayed command or a dropped reply ends with Redis running the command: the notice goes out in the same
    // atomic step as the tombstone, so both replicas refuse within a few ms (measured: 4–15 ms). A dropped command
    // first waits for ioredis to reconnect (50 ms), then the same (measured: 55–75 ms). Steps after the tombstone
    // were refused before their fault ended. Loose bounds here: other test files share these two cores.
    const times = refusals.map((r) => r.ms).sort((x, y) => x - y);
    expect(times).toHaveLength(CLOSE_STEPS.length * ACTIONS.length);
    expect(percentile(times, 50)).toBeLessThan(500);
    expect(times.at(-1)).toBeLessThan(2_000);
  });
});
