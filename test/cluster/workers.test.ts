import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { restartDelay } from '../../gateway/cluster.js';
import { cliCommand } from '../support/cli.js';
import { createIssuerKeys, signToken, TEST_IDENTITY, TEST_ISSUER } from '../support/keys.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** Node's arguments that run the CLI (test/support/cli.ts). */
const CLI = cliCommand();

function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

/** Direct children of a process (Linux /proc). */
function children(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

async function until<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const value = await probe();
      if (ok(value)) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One request on a fresh connection (a killed worker takes its keep-alive connections with it). */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; text: string }>((done, fail) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((done) => proc.once('exit', (code) => done(code)));
}

describe('escrow start --workers runs a primary that keeps N workers on one port', () => {
  let dir: string;
  let upstream: TestUpstream;
  let proc: ChildProcess;
  let port: number;
  let adminPort: number;
  let prefix: string;
  let token: string;
  let stderr = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'escrow-cluster-'));
    upstream = await startUpstream();
    const keys = await createIssuerKeys();
    token = await signToken(keys);
    [port, adminPort] = [await freePort(), await freePort()];
    prefix = testPrefix('cluster');
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(keys.jwks));
    writeFileSync(join(dir, 'lease.key'), randomBytes(32).toString('base64'));
    writeFileSync(join(dir, 'audit.key'), randomBytes(32).toString('base64'));
    writeFileSync(join(dir, 'api-key'), 'canary-cluster-key');
    const config = {
      proxy: { listen: `127.0.0.1:${port}` },
      admin: { listen: `127.0.0.1:${adminPort}` },
      store: REDIS_URL,
      storePrefix: prefix,
      keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
      identity: TEST_IDENTITY,
      policies: join(ROOT, 'policies'),
      watchPolicies: false,
      audit: { sinks: ['file:audit.log'] },
      targets: [echoTarget(upstream.url, 'file:api-key')],
    };
    writeFileSync(join(dir, 'escrow.yaml'), stringify(config));
    proc = spawn(process.execPath, [...CLI, 'start', '--config', join(dir, 'escrow.yaml'), '--workers', '2'], {
      env: { ...process.env, ESCROW_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await until(
      () => fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status),
      (s) => s === 200,
    );
    await until(
      () => children(proc.pid!).length,
      (n) => n === 2,
    );
    // Both workers up (each logs once it serves), not just the first one that answered /readyz.
    await until(
      () => stderr.split('"escrow started"').length - 1,
      (n) => n >= 2,
    );
  });
  afterAll(async () => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    await upstream?.close();
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (task: string) =>
    (await send(port, 'GET', '/echo/items', { authorization: `Bearer ${token}`, 'x-escrow-task': task })).status;

  const openTask = async () => {
    const body = JSON.stringify({ intent: 'cluster test', targets: ['echo'] });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const res = await send(port, 'POST', '/_escrow/tasks', headers, body);
    return (JSON.parse(res.text) as { id: string }).id;
  };

  it('serves the full path from every worker through Redis', async () => {
    const task = await openTask();
    // Fresh connections land on either worker; a task opened on one is seen by the other.
    const statuses = await Promise.all(Array.from({ length: 20 }, () => call(task)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(upstream.requests.at(-1)?.headers['x-api-key']).toBe('canary-cluster-key');
  });

  /** The cluster's count of allowed requests, from one scrape on a fresh connection (either worker takes it). */
  const allowed = async () => {
    const { status, text } = await send(adminPort, 'GET', '/metrics', {});
    expect(status).toBe(200);
    const line = text.split('\n').find((l) => l.startsWith('escrow_requests_total{target="echo",decision="allow"'));
    return Number(line?.split(' ').at(-1));
  };

  it('answers /metrics for the whole cluster, whichever worker takes the scrape', async () => {
    const task = await openTask();
    await Promise.all(Array.from({ length: 10 }, () => call(task)));
    // Fresh connections land on either worker. A worker's own count would differ from its sibling's; the
    // cluster's sum is the same from both: all 30 requests of this file so far (20 above, 10 here).
    const counts = await Promise.all(Array.from({ length: 8 }, allowed));
    expect(new Set(counts)).toEqual(new Set([30]));
    const text = (await send(adminPort, 'GET', '/metrics', {})).text;
    expect(text).toMatch(/^escrow_leases_issued_total\{target="echo",adapter="header"\} 2$/m);
  });

  it('restarts a worker that crashed, and keeps serving meanwhile', async () => {
    const before = await allowed();
    const [victim, survivor] = children(proc.pid!);
    process.kill(victim!, 'SIGKILL');
    // A connection handed to the worker in the instant it died is lost (node:cluster); once the primary has
    // seen the exit, the survivor takes every new connection while the replacement starts.
    await until(
      () => stderr,
      (text) => text.includes('worker exited'),
    );
    // Scrapes while the worker is gone are answered, and the counters never go down (what the dead worker
    // counted stays in), so Prometheus sees no reset.
    const during = await Promise.all(Array.from({ length: 4 }, allowed));
    for (const count of during) expect(count).toBeGreaterThanOrEqual(before);
    const task = await openTask();
    expect(await call(task)).toBe(200);
    const now = await until(
      () => children(proc.pid!),
      (c) => c.length === 2 && !c.includes(victim!),
    );
    expect(now).toContain(survivor);
    await until(
      () => fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status),
      (status) => status === 200,
    );
    expect(await call(task)).toBe(200);
    await until(
      () => stderr.split('"escrow started"').length - 1,
      (n) => n >= 3,
    );
    expect(await allowed()).toBeGreaterThanOrEqual(before + 2);
  });

  it('drains every worker and exits 0 on SIGTERM', async () => {
    const workers = children(proc.pid!);
    proc.kill('SIGTERM');
    expect(await exited(proc)).toBe(0);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('escrow start --workers refuses what cannot be shared', () => {
  it('exits 2 when the store is memory:// (one process only)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'escrow-cluster-'));
    try {
      const keys = await createIssuerKeys();
      writeFileSync(join(dir, 'jwks.json'), JSON.stringify(keys.jwks));
      writeFileSync(join(dir, 'k'), randomBytes(32).toString('base64'));
      const config = {
        store: 'memory://',
        keys: { leaseEncryption: 'file:k', auditHmac: 'file:k' },
        identity: {
          issuers: [{ name: 't', principal: 'Agent', issuer: TEST_ISSUER, audience: 'escrow', jwks: 'file:jwks.json' }],
        },
        policies: join(ROOT, 'policies'),
        targets: [
          {
            name: 'echo',
            upstream: 'http://127.0.0.1:1',
            credential: { adapter: 'header', header: 'x', value: 'file:k' },
          },
        ],
      };
      writeFileSync(join(dir, 'escrow.yaml'), stringify(config));
      const proc = spawn(process.execPath, [...CLI, 'start', '--config', join(dir, 'escrow.yaml'), '--workers', '2'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      proc.stderr?.on('data', (c: Buffer) => {
        err += c.toString();
      });
      expect(await exited(proc)).toBe(2);
      expect(err).toContain('memory://');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 on a --workers value that is not a count', async () => {
    const proc = spawn(process.execPath, [...CLI, 'start', '--workers', 'many'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    expect(await exited(proc)).toBe(2);
  });
});

describe('a crashing worker is restarted with exponential backoff', () => {
  it('doubles the delay per consecutive crash, up to the cap', () => {
    expect([1, 2, 3, 4, 10].map((n) => restartDelay(n, 500, 5_000))).toEqual([500, 1_000, 2_000, 4_000, 5_000]);
  });
});
