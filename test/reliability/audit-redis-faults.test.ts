import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { keyLayout } from '../../gateway/store/keys.js';
import { createRedisEventStream } from '../../gateway/store/redis-audit.js';
import { type Answered, escrowCli, loadUntil, requestIds } from '../audit/support/trail.js';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from './support/ports.js';
import { type OwnRedis, startOwnRedis } from './support/redis-server.js';

/**
 * Issue #20, faults 2 and 4 against real processes: a Redis that runs out of memory in the middle of the load, and
 * a Redis that restarts empty. After each, `escrow audit verify --config` names what happened (never "reordered").
 */
let redis: OwnRedis | undefined;
let upstream: TestUpstream | undefined;
let escrow: EscrowProcess | undefined;
let admin: Redis | undefined;

afterEach(async () => {
  await escrow?.close();
  await upstream?.close();
  admin?.disconnect();
  await redis?.close();
  [escrow, upstream, admin, redis] = [undefined, undefined, undefined, undefined];
});

async function start(audit: Record<string, unknown>) {
  redis = await startOwnRedis(['--maxmemory-policy', 'noeviction']);
  admin = new Redis({ port: redis.port, host: '127.0.0.1' });
  admin.on('error', () => {}); // the restart test kills the server under it
  upstream = await startUpstream();
  escrow = await startEscrowProcess({
    store: redis.url,
    config: { audit: { sinks: ['redis'], ...audit } },
    env: { FAULT_KEY: 'canary-redis-fault-key-61b9' },
    targets: [echoTarget(upstream.url, 'env:FAULT_KEY')],
  });
  const running = escrow;
  const token = await running.token();
  const task = await running.openTask(token, ['echo']);
  const call = () =>
    fetch(`${running.url}/echo/work`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });
  return { escrow: running, call };
}

/** Load until `stop` says so (given each answer and the count so far). */
function loadWhile(call: () => Promise<Response>, stop: (answer: Answered, count: number) => boolean) {
  let done!: () => void;
  const stopped = new Promise<void>((resolve) => {
    done = resolve;
  });
  return loadUntil(call, 8, stopped, (answer, count) => {
    if (stop(answer, count)) done();
  });
}

async function streamIds(prefix: string): Promise<Set<string>> {
  const stream = createRedisEventStream(admin!, { keys: keyLayout(prefix), retentionMs: 0, maxLen: 1e9 });
  return requestIds(await stream.readAll());
}

/** Fill Redis to `maxmemory` = what it uses now plus `headroom` bytes. */
async function capMemory(headroom: number): Promise<void> {
  const info = await admin!.info('memory');
  const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
  await admin!.config('SET', 'maxmemory', String(used + headroom));
}

describe('Redis out of memory mid-load (failMode closed): nothing answered is lost, verify says OK', () => {
  it('refuses while Redis is full, recovers when it has room, and the stream verifies OK', async () => {
    const { escrow: running, call } = await start({});
    const answered: Answered[] = [];
    answered.push(...(await loadWhile(call, (_a, n) => n >= 30)).answered);
    await capMemory(150_000);
    let refused = 0;
    const full = await loadWhile(call, (answer) => answer.status === 503 && ++refused >= 5);
    answered.push(...full.answered);
    await admin!.config('SET', 'maxmemory', '0');
    await waitFor(async () => (await call().then((res) => res.text().then(() => res.status))) === 200, 15_000);
    answered.push(...(await loadWhile(call, (_a, n) => n >= 30)).answered);
    await running.stop();

    const recorded = await streamIds(running.prefix);
    expect(answered.filter((a) => a.status === 200 && !recorded.has(a.requestId))).toEqual([]);
    const verify = await escrowCli(['audit', 'verify', '--config', running.configPath]);
    expect(verify.stdout).toMatch(/^OK: /);
    expect(verify.code).toBe(0);
    // The sink errors were logged (with Redis' own words), never with the secret.
    expect(running.logs().some((l) => l.msg === 'audit sink write failed' && /OOM/.test(String(l.err)))).toBe(true);
    expect(running.output()).not.toContain('canary-redis-fault-key-61b9');
  });
});

describe('Redis out of memory mid-load (failMode open, a small queue): the loss shows as a gap, never as reordering', () => {
  it('answers on while events queue, drops the oldest past the queue, and verify reports the exact gap', async () => {
    const { escrow: running, call } = await start({ failMode: 'open', maxQueue: 20 });
    await loadWhile(call, (_a, n) => n >= 30);
    await capMemory(100_000);
    // Open: answers keep coming while the stream refuses writes; stop once drops have certainly happened.
    await loadWhile(call, (_a, n) => n >= 600);
    await admin!.config('SET', 'maxmemory', '0');
    await loadWhile(call, (_a, n) => n >= 30);
    await running.stop();

    const verify = await escrowCli(['audit', 'verify', '--config', running.configPath]);
    expect(verify.stdout).toMatch(/^GAP: /);
    expect(verify.stdout).toMatch(/writer \S+: gap from seq \d+ to \d+ \(\d+ event\(s\)\)/);
    expect(verify.stdout).not.toMatch(/reordered|edited|malformed/);
    expect(verify.code).toBe(4);
  });
});

describe('Redis restarted empty: the head lost with it is a gap, not "OK"', () => {
  it('reports a gap from seq 0 for the writer that went on writing', async () => {
    const { escrow: running, call } = await start({});
    await loadWhile(call, (_a, n) => n >= 20);
    await redis!.kill();
    await redis!.start();
    // The task lived in the lost Redis: a new one, and requests, once Escrow is ready again.
    const token = await running.token();
    let task = '';
    await waitFor(async () => {
      task = await running.openTask(token, ['echo']);
      return true;
    }, 15_000);
    const again = () =>
      fetch(`${running.url}/echo/work`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });
    await loadWhile(again, (_a, n) => n >= 20);
    await running.stop();

    const verify = await escrowCli(['audit', 'verify', '--config', running.configPath]);
    expect(verify.stdout).toMatch(/^GAP: /);
    expect(verify.stdout).toMatch(/writer \S+: gap from seq 0 to \d+/);
    expect(verify.stdout).not.toMatch(/trimmed|reordered|edited|malformed/);
    expect(verify.code).toBe(4);
  });
});
