import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { echoTarget } from '../support/upstream.js';
import { type FaultUpstream, startFaultUpstream } from './support/fault-upstreams.js';
import { type Answer, timedFetch } from './support/load.js';
import { waitFor } from './support/ports.js';
import { type OwnRedis, startOwnRedis } from './support/redis-server.js';

const CANARY = 'canary-sigterm-3a8d01';

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** Escrow's own connections to Redis (everything but the client asking). */
async function escrowConnections(redis: OwnRedis): Promise<number> {
  const admin = new Redis({ port: redis.port, host: '127.0.0.1' });
  const list = String(await admin.client('LIST'));
  admin.disconnect();
  return list.split('\n').filter((l) => l.includes('addr=') && !/ cmd=client\|list /.test(l)).length;
}

describe('SIGTERM drains: new connections are refused, in-flight requests finish, Redis is closed, exit 0', () => {
  let redis: OwnRedis;
  let upstream: FaultUpstream;
  let escrow: EscrowProcess;
  let restarted: EscrowProcess | undefined;
  let token: string;
  let task: string;
  /** Answers to `/slow`, held until the test sends them. */
  const held: (() => void)[] = [];

  beforeAll(async () => {
    redis = await startOwnRedis();
    upstream = await startFaultUpstream((req, res) => {
      const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`done ${req.url}`);
      if (req.url === '/slow') held.push(answer);
      else answer();
    });
    escrow = await startEscrowProcess({
      store: redis.url,
      env: { ECHO_KEY: CANARY },
      // Far beyond the test's timeout: an exit seen here comes from the drain finishing, never from the deadline.
      config: { proxy: { drainTimeoutMs: 600_000 } },
      targets: [echoTarget(upstream.url, 'env:ECHO_KEY')],
    });
    token = await escrow.token();
    task = await escrow.openTask(token, ['echo']);
  });
  afterAll(async () => {
    await restarted?.close();
    await escrow?.close();
    await upstream?.close();
    await redis?.close();
  });

  const call = (e: EscrowProcess, path: string) =>
    timedFetch(`${e.url}/echo${path}`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });

  it('finishes the in-flight request with 200 after SIGTERM, then exits 0 without waiting for the deadline, Redis closed', async () => {
    expect((await call(escrow, '/warm')).status).toBe(200);
    expect(await escrowConnections(redis)).toBeGreaterThan(0);
    const inflight: Promise<Answer> = call(escrow, '/slow');
    await waitFor(() => held.length === 1);
    let exited = false;
    void escrow.exited.then(() => {
      exited = true;
    });
    escrow.proc.kill('SIGTERM');
    // The upstream holds the in-flight answer, so the listener closing comes from the drain, not from an exit.
    await waitFor(() => refuses(escrow.port), 15_000);
    expect(exited).toBe(false); // still draining: it waits for the in-flight request
    held.shift()!();
    const answer = await inflight;
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('done /slow');
    expect(await escrow.exited).toBe(0); // as soon as it finished: the deadline is ten minutes away
    expect(await escrowConnections(redis)).toBe(0);
    expect(escrow.logs().some((l) => l.msg === 'draining' && l.signal === 'SIGTERM')).toBe(true);
    const slow = escrow.auditEvents().find((e) => e.event === 'request' && e.path === '/slow');
    expect(slow).toMatchObject({ status: 200, decision: 'allow' });
    expect(escrow.output()).not.toContain(CANARY);
  });

  it('restarts over the same Redis and serves the same task with the same lease (all state is in Redis)', async () => {
    restarted = await escrow.restart();
    const answer = await call(restarted, '/after-restart');
    expect(answer.status).toBe(200);
    const issued = restarted.auditEvents().filter((e) => e.event === 'lease.issued');
    expect(issued).toHaveLength(1); // issued by the first process, found in Redis by the second
    const requests = restarted.auditEvents().filter((e) => e.event === 'request' && e.status === 200);
    expect(new Set(requests.map((e) => e.leaseId))).toEqual(new Set([issued[0]!.leaseId]));
  });
});

describe('SIGTERM with a request that outlives proxy.drainTimeoutMs: cut at the deadline, exit 0', () => {
  let upstream: FaultUpstream;
  let escrow: EscrowProcess;

  beforeAll(async () => {
    upstream = await startFaultUpstream(() => {}); // never answers: only the drain deadline can end the request
    escrow = await startEscrowProcess({
      store: 'memory://',
      env: { ECHO_KEY: CANARY },
      config: { proxy: { drainTimeoutMs: 800 } },
      targets: [
        {
          name: 'echo',
          upstream: upstream.url,
          attributes: { sensitivity: 'low', environment: 'dev' },
          requireTask: false,
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:ECHO_KEY', ttl: 300 },
        },
      ],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('cuts the request at the deadline instead of waiting for it', async () => {
    const token = await escrow.token();
    const inflight = timedFetch(`${escrow.url}/echo/very-slow`, { headers: { authorization: `Bearer ${token}` } });
    await waitFor(() => upstream.total() === 1);
    const signalledAt = performance.now();
    escrow.proc.kill('SIGTERM');
    const answer = await inflight;
    expect(answer.status).toBe(0); // the connection was closed under it
    expect(await escrow.exited).toBe(0);
    // The deadline is the behaviour, so its time is asserted: not before it (timers never fire early), and within
    // ten times it, a bound no loaded machine reaches (the request would otherwise hang until the test times out).
    const took = performance.now() - signalledAt;
    expect(took).toBeGreaterThanOrEqual(750);
    expect(took).toBeLessThan(10 * 800);
  });
});
