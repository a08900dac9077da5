/**
 * The audit path on its own (docs/audit.md, "What it costs"):
 *   1. sealing one request event: the line hash now, against the canonical-JSON hash of a spread copy it replaced;
 *   2. group commit through the real sinks (a file and a redis-server of the bench's own): events/s, CPU per event,
 *      how long an answer waits for its event (p50/p99), and Redis steps per event, at several concurrencies.
 *   3. the same group commit with the audit log in a worker thread (the main thread posts each turn's events in one
 *      message and waits for the worker's acknowledgement): what the hand-off costs the process, alone (a worker
 *      that acknowledges at once) and with the real log behind it (its own Redis connection and file).
 * Run: npm run build && npx tsx bench/audit.ts [--events 200000] [--seconds 3] [--file-sync none|batch]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
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
    /** Where the table goes (merged into bench/RESULTS.md by the next `npm run bench` or `-- --render`). */
    out: { type: 'string', default: 'bench/RESULTS-audit.md' },
  },
});
const started = Date.now();
/** The results table's rows, as the run prints them. */
const rows: string[] = [];

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

function sealing(count: number): string {
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
  const line = `sealing one request event: ${now.toFixed(2)} µs now (line hash), ${before.toFixed(2)} µs before (canonical JSON of a spread copy)`;
  process.stdout.write(`${line}\n`);
  return line;
}

async function ownRedis(): Promise<{ port: number; stop: () => void }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  // The server takes a moment to listen: a refused connect is tried again (ioredis' own connect() rejects at once).
  for (let attempt = 0; ; attempt++) {
    const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      probe.disconnect();
      break;
    } catch (error) {
      probe.disconnect();
      if (attempt === 100) {
        child.kill('SIGKILL');
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { port, stop: () => child.kill('SIGKILL') };
}

/** What the measurement needs of a log: commit one event, close. */
interface Committing {
  commit(event: AuditEventInput): Promise<void>;
  close(): Promise<void>;
}

/**
 * The audit log behind a worker thread: events recorded in one turn go to the worker as one message (one structured
 * clone, one wake-up); the worker answers with their ids once its log has written them.
 */
function threadedLog(mode: 'handoff' | 'log', port: number, prefix: string, file: string): Committing {
  const worker = new Worker(new URL('./lib/audit-worker.mjs', import.meta.url), {
    workerData: { mode, port, prefix, file, fileSync: values['file-sync'] === 'batch' ? 'batch' : 'none' },
  });
  const waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let next = 0;
  let ids: number[] = [];
  let events: AuditEventInput[] = [];
  let scheduled = false;
  // A worker that dies fails everything waiting for it (and `close` does not wait for an exit that came already).
  let exited = false;
  const failAll = (error: Error): void => {
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  worker.on('error', (error) => failAll(error));
  worker.on('exit', () => {
    exited = true;
    failAll(new Error('audit worker: exited'));
  });
  worker.on('message', (message: number[] | { failed: number[] }) => {
    const failed = !Array.isArray(message);
    for (const id of failed ? message.failed : message) {
      const w = waiting.get(id);
      waiting.delete(id);
      if (failed) w?.reject(new Error('audit worker: not written'));
      else w?.resolve();
    }
  });
  const post = (): void => {
    scheduled = false;
    worker.postMessage({ ids, events });
    ids = [];
    events = [];
  };
  return {
    commit(event) {
      const id = next++;
      ids.push(id);
      events.push(event);
      if (!scheduled) {
        scheduled = true;
        setImmediate(post);
      }
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    },
    async close() {
      if (exited) return;
      const exit = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('close');
      await exit;
    },
  };
}

type Where = 'in-thread' | 'handoff' | 'worker';

async function groupCommit(concurrency: number, seconds: number, port: number, dir: string, where: Where) {
  const client = new Redis({ port, enableAutoPipelining: true });
  const prefix = `bench${concurrency}${where}:`;
  const file = join(dir, `audit-${concurrency}-${where}.log`);
  const log: Committing =
    where === 'in-thread'
      ? inThreadLog(client, prefix, file)
      : threadedLog(where === 'worker' ? 'log' : 'handoff', port, prefix, file);
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
  const label = where === 'in-thread' ? 'in the thread' : where === 'handoff' ? 'hand-off only' : 'in a worker';
  const cpuPerEvent = (cpu.user + cpu.system) / events;
  const perStep = where === 'handoff' ? '–' : (events / Math.max(steps, 1)).toFixed(1);
  const [p50, p99] = [percentile(waits, 50), percentile(waits, 99)];
  process.stdout.write(
    `group commit ${label.padEnd(13)} (fileSync ${values['file-sync']}), ${String(concurrency).padStart(3)} waiting: ${(events / seconds).toFixed(0).padStart(6)} events/s, ` +
      `${cpuPerEvent.toFixed(1).padStart(5)} µs CPU/event (all threads), wait p50 ${p50.toFixed(2)} ms p99 ${p99.toFixed(2)} ms, ${perStep} events per Redis step\n`,
  );
  rows.push(
    `| ${concurrency} | ${label} | ${(events / seconds).toFixed(0)} | ${cpuPerEvent.toFixed(1)} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${perStep} |`,
  );
  await log.close();
  client.disconnect();
}

function inThreadLog(client: Redis, prefix: string, file: string): Committing {
  return createAuditLog({
    hmacKey: 'bench-audit-key-0123456789abcdef',
    sinks: [`file:${file}`, 'redis'],
    events: createRedisEventStream(client, { keys: keyLayout(prefix), retentionMs: 60_000, maxLen: 50_000_000 }),
    failMode: 'closed',
    fileSync: values['file-sync'] === 'batch' ? 'batch' : 'none',
  });
}

const sealed = sealing(Number(values.events));
const redis = await ownRedis();
const dir = mkdtempSync(join(tmpdir(), 'escrow-bench-audit-'));
try {
  for (const concurrency of [1, 16, 64, 256]) {
    for (const where of ['in-thread', 'handoff', 'worker'] as const) {
      await groupCommit(concurrency, Number(values.seconds), redis.port, dir, where);
    }
  }
} finally {
  redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
const load = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
writeFileSync(
  values.out,
  [
    "# Audit: group commit in the event loop's thread and in a worker thread",
    '',
    `Produced by \`npx tsx bench/audit.ts --seconds ${values.seconds} --file-sync ${values['file-sync']}\` (after \`npm run build\`) on ${new Date().toISOString().slice(0, 10)} in ${((Date.now() - started) / 60000).toFixed(1)} min: Node ${process.version}, load average ${load} after.`,
    '',
    "Each of N waiting callers commits one request event and waits for it, again and again (N = 1 is one event per batch, as at a fixed 3 000 req/s). Real sinks: a file and a redis-server of the bench's own. **in the thread**: Escrow's audit log as it runs. **in a worker**: the same log in a worker thread with its own Redis connection; the main thread posts each turn's events as one message and waits for the worker's acknowledgement (the design #21 asked to measure). **hand-off only**: the same messages to a worker that acknowledges at once (no log): the price of the hand-off itself. CPU is the whole process's (every thread) per event.",
    '',
    '| waiting | where | events/s | CPU µs/event | wait p50 ms | wait p99 ms | events per Redis step |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `In-process, one event at a time: ${sealed}.`,
    '',
  ].join('\n'),
);
process.stdout.write(`wrote ${values.out}\n`);
