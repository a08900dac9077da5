/**
 * The audit path on its own (docs/audit.md, "What it costs"):
 *   1. sealing one request event: the line hash now, against the canonical-JSON hash of a spread copy it replaced;
 *   2. group commit through the real sinks (a file and a redis-server of the bench's own): events/s, CPU per event,
 *      how long an answer waits for its event (p50/p99), and Redis steps per event, at several concurrencies.
 * Run: npx tsx bench/audit.ts [--events 200000] [--seconds 3] [--file-sync none|batch]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { canonicalJson, sha256Hex } from '../gateway/audit/canonical.js';
import { createAuditLog } from '../gateway/audit/index.js';
import { createSealer } from '../gateway/audit/seal.js';
import type { AuditEventInput } from '../gateway/audit/types.js';
import { keyLayout } from '../gateway/store/keys.js';
import { createRedisEventStream } from '../gateway/store/redis-audit.js';
import { freePort } from './lib/process.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    seconds: { type: 'string', default: '3' },
    'file-sync': { type: 'string', default: 'none' },
  },
});

/** A request event as the pipeline records it under a cached lease (the common case). */
function requestEvent(i: number): AuditEventInput {
  return {
    event: 'request',
    requestId: `req_${i.toString(36).padStart(12, '0')}`,
    decisionId: 'dec_5Qm0c2b8XkLr',
    decision: 'allow',
    policies: ['agents-dev-read', 'business-hours'],
    principal: { type: 'Agent', id: 'spiffe://bench.example/agent/bench-0', issuer: 'bench' },
    task: { id: 'tsk_9f2c1a7d3b5e4f60', chain: ['tsk_9f2c1a7d3b5e4f60'] },
    target: 'bench',
    leaseId: 'lse_Qx4v8Zt1Kp2m',
    secretFingerprint: '5f0c9a1e7b3d2c4f6a8e0b1d3c5e7f9a2b4d6c8e0f1a3b5c7d9e1f3a5b7c9d1e',
    method: 'GET',
    path: '/items/42',
    status: 200,
    client: '127.0.0.1',
  };
}

/** The p-th percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function sealing(count: number): void {
  const events = Array.from({ length: 1000 }, (_, i) => requestEvent(i));
  const sealer = createSealer({ writerId: 'bench-host-1-abcd', onRefusedField: () => {} });
  const time = (fn: (event: AuditEventInput, i: number) => void) => {
    for (let i = 0; i < 20_000; i++) fn(events[i % 1000]!, i); // warm up
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) fn(events[i % 1000]!, i);
    return Number(process.hrtime.bigint() - start) / 1000 / count;
  };
  const now = time((event, i) => sealer.seal(event, 1_700_000_000_000 + i));
  // What sealing did before: a spread copy with the chain members, canonical JSON of it, SHA-256, a spliced line.
  let prev = '0'.repeat(64);
  const before = time((event, i) => {
    const link = { time: new Date(1_700_000_000_000 + i).toISOString(), writer: 'bench-host-1-abcd', seq: i, prev };
    const text = JSON.stringify(event);
    prev = sha256Hex(canonicalJson({ ...event, ...link }));
    return `{"time":${JSON.stringify(link.time)},${text.slice(1, -1)},"seq":${i},"prev":"${link.prev}","hash":"${prev}"}`;
  });
  process.stdout.write(
    `sealing one request event: ${now.toFixed(2)} µs now (line hash), ${before.toFixed(2)} µs before (canonical JSON of a spread copy)\n`,
  );
}

async function ownRedis(): Promise<{ port: number; stop: () => void }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => 50 });
  probe.on('error', () => {});
  await probe.connect();
  probe.disconnect();
  return { port, stop: () => child.kill('SIGKILL') };
}

async function groupCommit(concurrency: number, seconds: number, port: number, dir: string): Promise<void> {
  const client = new Redis({ port, enableAutoPipelining: true });
  const prefix = `bench${concurrency}:`;
  const log = createAuditLog({
    hmacKey: 'bench-audit-key-0123456789abcdef',
    sinks: [`file:${join(dir, `audit-${concurrency}.log`)}`, 'redis'],
    events: createRedisEventStream(client, { keys: keyLayout(prefix), retentionMs: 60_000, maxLen: 50_000_000 }),
    failMode: 'closed',
    fileSync: values['file-sync'] === 'batch' ? 'batch' : 'none',
  });
  const scripts = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
  await log.commit(requestEvent(0));
  const [scriptsBefore, cpuBefore] = [await scripts(), process.cpuUsage()];
  const waits: number[] = [];
  let events = 0;
  const until = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < until) {
      const start = performance.now();
      await log.commit(requestEvent(events++));
      waits.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const cpu = process.cpuUsage(cpuBefore);
  const steps = (await scripts()) - scriptsBefore;
  waits.sort((a, b) => a - b);
  process.stdout.write(
    `group commit (fileSync ${values['file-sync']}), ${String(concurrency).padStart(3)} waiting: ${(events / seconds).toFixed(0).padStart(6)} events/s, ` +
      `${((cpu.user + cpu.system) / events).toFixed(1).padStart(5)} µs CPU/event, wait p50 ${percentile(waits, 50).toFixed(2)} ms ` +
      `p99 ${percentile(waits, 99).toFixed(2)} ms, ${(events / Math.max(steps, 1)).toFixed(1)} events per Redis step\n`,
  );
  await log.close();
  client.disconnect();
}

sealing(Number(values.events));
const redis = await ownRedis();
const dir = mkdtempSync(join(tmpdir(), 'escrow-bench-audit-'));
try {
  for (const concurrency of [1, 16, 64, 256]) await groupCommit(concurrency, Number(values.seconds), redis.port, dir);
} finally {
  redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
