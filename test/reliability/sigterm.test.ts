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
const SLOW_MS = 1_500;

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

  beforeAll(async () => {
    redis = await startOwnRedis();
    upstream = await startFaultUpstream((req, res) => {
      const delay = req.url === '/slow' ? SLOW_MS : 0;
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(`done ${req.url}`), delay);
    });
    escrow = await startEscrowProcess({
      store: redis.url,
      env: { ECHO_KEY: CANARY },
      config: { proxy: { drainTimeoutMs: 5_000 } },
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

  it('finishes the in-flight request with 200 after SIGTERM and exits 0 soon after, with Redis closed', async () => {
    expect((await call(escrow, '/warm')).status).toBe(200);
    expect(await escrowConnections(redis)).toBeGreaterThan(0);
    const before = upstream.total();
    const inflight: Promise<Answer> = call(escrow, '/slow');
    await waitFor(() => upstream.total() > before);
    const signalledAt = performance.now();
    escrow.proc.kill('SIGTERM');
    await waitFor(() => refuses(escrow.port), 2_000); // stops accepting at once
    const answer = await inflight;
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('done /slow');
    expect(await escrow.exited).toBe(0);
    expect(performance.now() - signalledAt).toBeLessThan(SLOW_MS + 1_500); // not the 5 s deadline
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
    upstream = await startFaultUpstream((_req, res) => {
      const timer = setTimeout(() => res.end('too late'), 10_000);
      res.on('close', () => clearTimeout(timer));
    });
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
    const took = performance.now() - signalledAt;
    expect(took).toBeGreaterThanOrEqual(750);
    expect(took).toBeLessThan(800 + 1_500);
  });
});
