/**
 * Revocation latency across replicas: two real Escrow processes over one Redis. Each trial opens a task on A,
 * uses it on A (A caches the task and its lease), closes it on B, and asks A until A refuses. The latency is
 * from B's `204` arriving to A's `403` arriving — what an operator who closes a task observes.
 * Run: npx tsx bench/replicas.ts [trials]   (appends a section to bench/RESULTS-replicas.md)
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { mintTarget, startMint } from '../test/leases/support/mint.js';
import { type CloseTrial, closeTrial, percentile, summarize } from '../test/replicas/support/latency.js';
import { type EscrowProcess, startEscrowProcess } from '../test/support/escrow-process.js';
import { createIssuerKeys, signToken } from '../test/support/keys.js';
import { deletePrefix, testPrefix } from '../test/support/redis.js';

const TRIALS = Number(process.argv[2] ?? 1_000);
const LOAD_CONCURRENCY = 16;

/** Keep `concurrency` requests in flight against `at` until `stop()` (other agents' traffic on replica A). */
function backgroundLoad(at: EscrowProcess, token: string, task: string) {
  let running = true;
  const latencies: number[] = [];
  const worker = async () => {
    while (running) {
      const started = performance.now();
      const res = await fetch(`${at.url}/minted/load`, {
        headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - started);
    }
  };
  const workers = Array.from({ length: LOAD_CONCURRENCY }, worker);
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return latencies.sort((x, y) => x - y);
    },
  };
}

async function trials(a: EscrowProcess, b: EscrowProcess, token: string): Promise<CloseTrial[]> {
  const out: CloseTrial[] = [];
  for (let i = 0; i < TRIALS; i++) out.push(await closeTrial(a, b, token, 'minted'));
  return out;
}

const row = (name: string, t: CloseTrial[]) => {
  const d = summarize(t);
  return `| ${name} | ${d.trials} | ${d.refusedAtOnce} | ${d.p50.toFixed(2)} | ${d.p99.toFixed(2)} | ${d.max.toFixed(2)} |`;
};

async function main() {
  const prefix = testPrefix('bench-replicas');
  const keys = await createIssuerKeys();
  const mint = await startMint();
  const shared = {
    prefix,
    keys,
    secrets: { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') },
    targets: [mintTarget(mint)],
    config: { tasks: { maxOpenPerPrincipal: 100_000 } },
  };
  const [a, b] = await Promise.all([startEscrowProcess(shared), startEscrowProcess(shared)]);
  try {
    const token = await signToken(keys);
    const loadToken = await signToken(keys, { sub: 'spiffe://test.example/agent/load' });
    for (let i = 0; i < 50; i++) await closeTrial(a, b, token, 'minted'); // warm-up
    const idle = await trials(a, b, token);
    const loadTask = await openLoadTask(a, loadToken);
    const load = backgroundLoad(a, loadToken, loadTask);
    const busy = await trials(a, b, token);
    const served = await load.stop();
    const ordinary = `${percentile(served, 50).toFixed(2)} / ${percentile(served, 99).toFixed(2)}`;
    const text = [
      `## Close on B → refusal on A (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus()[0]?.model.trim()} ×${cpus().length})`,
      '',
      `Command: \`npx tsx bench/replicas.ts ${TRIALS}\` — two \`escrow start\` processes, one local Redis, 50 warm-up trials.`,
      'Latency in ms from the close (`DELETE` on B) answering 204 to A answering 403; "at once" = trials where',
      `A refused the very first request after the close. "busy": ${LOAD_CONCURRENCY} other requests kept in flight on A`,
      `(${served.length} served during those trials; their own p50 / p99: ${ordinary} ms — the refusal is one`,
      'more request in that queue).',
      '',
      '| A is | trials | refused at once | p50 | p99 | max |',
      '| ---- | ------ | --------------- | --- | --- | --- |',
      row('idle', idle),
      row('busy', busy),
      '',
    ].join('\n');
    process.stdout.write(`${text}\n`);
    appendFileSync(new URL('./RESULTS-replicas.md', import.meta.url), `${text}\n`);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await mint.close();
    await deletePrefix(prefix);
  }
}

async function openLoadTask(at: EscrowProcess, token: string): Promise<string> {
  const res = await fetch(`${at.url}/_escrow/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ intent: 'background load', targets: ['minted'] }),
  });
  return ((await res.json()) as { id: string }).id;
}

await main();
