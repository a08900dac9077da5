/**
 * Approvals across replicas: two real Escrow processes over one Redis, agents and people from two issuers. Each
 * trial opens a task that waits for a person on A (202), starts a long-poll on A (`GET /_escrow/tasks/<id>?wait`),
 * approves it on B, and uses it on A. Measured: the 202 (creating the approval), the person's POST on B, the time
 * from sending that POST to A's long-poll answering (what "approve, and the agent goes on" costs), and the first
 * request on A (the lease is issued then). Also the `403 approval_required` of a request that waits.
 * Run: npx tsx bench/approvals.ts [trials]   (appends a section to bench/RESULTS-approvals.md)
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { call, humanIssuer, humanToken, perRequestTarget, perTaskTarget } from '../test/approvals/support.js';
import { percentile } from '../test/replicas/support/latency.js';
import { type EscrowProcess, startEscrowProcess } from '../test/support/escrow-process.js';
import { createIssuerKeys, signToken, TEST_IDENTITY } from '../test/support/keys.js';
import { deletePrefix, testPrefix } from '../test/support/redis.js';
import { startUpstream } from '../test/support/upstream.js';

const TRIALS = Number(process.argv[2] ?? 200);

interface Trial {
  open: number;
  decide: number;
  wake: number;
  firstUse: number;
  waitAnswer: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
}

async function trial(a: EscrowProcess, b: EscrowProcess, agent: string, person: string): Promise<Trial> {
  const [opened, open] = await timed(async () => {
    const res = await call(`${a.url}/_escrow/tasks`, agent, { body: { intent: 'bench', targets: ['payroll'] } });
    return (await res.json()) as { id: string; approvalId: string };
  });
  const polled = call(`${a.url}/_escrow/tasks/${opened.id}?wait=30s`, agent).then((r) => r.json());
  // Let A hold the long-poll before the decision (else the wake is measured against a read, not a notice).
  await new Promise((r) => setTimeout(r, 5));
  const sent = performance.now();
  const [, decide] = await timed(async () => {
    const res = await call(`${b.url}/_escrow/approvals/${opened.approvalId}`, person, {
      body: { decision: 'approve' },
    });
    await res.arrayBuffer();
  });
  const state = ((await polled) as { state: string }).state;
  const wake = performance.now() - sent;
  if (state !== 'active') throw new Error(`long-poll answered ${state}`);
  const [, firstUse] = await timed(async () => {
    const res = await call(`${a.url}/payroll/runs`, agent, { task: opened.id });
    if (res.status !== 200) throw new Error(`first use answered ${res.status}`);
    await res.arrayBuffer();
  });
  const task = await call(`${a.url}/_escrow/tasks`, agent, { body: { intent: 'CHG-1 bench', targets: ['billing'] } });
  const id = ((await task.json()) as { id: string }).id;
  const [, waitAnswer] = await timed(async () => {
    const res = await call(`${a.url}/billing/x`, agent, { method: 'DELETE', task: id });
    if (res.status !== 403) throw new Error(`a request that waits answered ${res.status}`);
    await res.arrayBuffer();
  });
  // Closing both tasks cancels the request approval and frees the agent's slots.
  await call(`${a.url}/_escrow/tasks/${id}`, agent, { method: 'DELETE' });
  await call(`${a.url}/_escrow/tasks/${opened.id}`, agent, { method: 'DELETE' });
  return { open, decide, wake, firstUse, waitAnswer };
}

const row = (name: string, values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  return `| ${name} | ${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 99).toFixed(2)} | ${sorted.at(-1)!.toFixed(2)} |`;
};

async function main() {
  const prefix = testPrefix('bench-approvals');
  const dir = mkdtempSync(join(tmpdir(), 'escrow-bench-approvals-'));
  const [keys, humans] = await Promise.all([createIssuerKeys(), createIssuerKeys()]);
  const upstream = await startUpstream();
  writeFileSync(join(dir, 'human-jwks.json'), JSON.stringify(humans.jwks));
  writeFileSync(join(dir, 'key'), randomBytes(24).toString('base64url'));
  const shared = {
    prefix,
    keys,
    secrets: { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') },
    targets: [
      perRequestTarget(upstream.url, `file:${join(dir, 'key')}`),
      perTaskTarget(upstream.url, `file:${join(dir, 'key')}`),
    ],
    config: {
      identity: { issuers: [...TEST_IDENTITY.issuers, humanIssuer(`file:${join(dir, 'human-jwks.json')}`)] },
      tasks: { maxOpenPerPrincipal: 100_000 },
      approvals: { maxPendingPerRequester: 1_000 },
    },
  };
  const [a, b] = await Promise.all([startEscrowProcess(shared), startEscrowProcess(shared)]);
  try {
    const agent = await signToken(keys, { expiresIn: 3_600 });
    const person = await humanToken(humans, 'alice@example.org', ['payroll-approvers'], 3_600);
    for (let i = 0; i < 20; i++) await trial(a, b, agent, person); // warm-up
    const trials: Trial[] = [];
    for (let i = 0; i < TRIALS; i++) trials.push(await trial(a, b, agent, person));
    const col = (k: keyof Trial) => trials.map((t) => t[k]);
    const text = [
      `## Approvals across two processes (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus()[0]?.model.trim()} ×${cpus().length})`,
      '',
      `Command: \`npx tsx bench/approvals.ts ${TRIALS}\` — two \`escrow start\` processes, one local Redis, 20 warm-up trials.`,
      '',
      '| ms | p50 | p99 | max |',
      '| -- | --- | --- | --- |',
      row('open a task that waits (`202`, on A)', col('open')),
      row('a person approves (`POST`, on B)', col('decide')),
      row('approve sent on B → long-poll answers on A', col('wake')),
      row('first request on A after approval (lease issued)', col('firstUse')),
      row('a request that waits (`403 approval_required`)', col('waitAnswer')),
      '',
    ].join('\n');
    process.stdout.write(`${text}\n`);
    appendFileSync(new URL('./RESULTS-approvals.md', import.meta.url), `${text}\n`);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await upstream.close();
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
