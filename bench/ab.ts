/**
 * A/B two builds of Escrow on the full path, interleaved (A B A B …), same upstream, same task.
 * Run: npx tsx bench/ab.ts --b /path/to/other/dist/gateway/cli.js [--workload poll|hostile] [--rounds 4] [--duration 5]
 * Prints req/s and the CPU each Escrow process spent per request (the number that contention disturbs least).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Contestant, Field } from './lib/contestants.js';
import {
  agentSubject,
  checkFullPath,
  createBenchKeys,
  deletePrefix,
  openTask,
  startEscrowProcess,
} from './lib/escrow.js';
import { measure, WORKLOADS } from './lib/measure.js';
import { startUpstream } from './lib/process.js';
import { median } from './lib/stats.js';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    a: { type: 'string', default: join(repoRoot, 'dist/gateway/cli.js') },
    b: { type: 'string' },
    workload: { type: 'string', default: 'poll' },
    policies: { type: 'string', default: 'examples' },
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '5' },
  },
});
if (!values.b) throw new Error('--b <cli.js of the other build> is required');
const workload = WORKLOADS.find((w) => w.name === values.workload)!;
const dir = mkdtempSync(join(tmpdir(), 'escrow-ab-'));
const prefix = `escrowbench:${randomBytes(4).toString('hex')}:`;
const keys = await createBenchKeys(dir);
const { child: upstream, port: upstreamPort } = await startUpstream(repoRoot);
const contestants: Contestant[] = [];
try {
  for (const [name, cli] of [
    ['A', values.a],
    ['B', values.b],
  ] as const) {
    process.env.ESCROW_BENCH_CLI = cli;
    const policies = values.policies === 'generated' ? 'generated' : 'examples';
    const e = await startEscrowProcess({ name, policies, workers: 1, upstreamPort, repoRoot, keys, prefix });
    contestants.push({ name, description: cli, port: e.port, child: e.child });
  }
  const token = await keys.sign(agentSubject(0));
  const taskId = await openTask(contestants[0]!.port, token, 'bench: a/b');
  for (const c of contestants) await checkFullPath(c.port, { token, taskId });
  const field = { upstream, upstreamPort, token, taskId, contestants } as unknown as Field;
  const options = { connections: 50, durationMs: Number(values.duration) * 1000, loadgen: 'builtin' as const };
  for (const c of contestants) await measure(field, c, workload, 0, { ...options, durationMs: 2000 });
  const cpu: Record<string, number[]> = { A: [], B: [] };
  const rps: Record<string, number[]> = { A: [], B: [] };
  for (let round = 1; round <= Number(values.rounds); round += 1) {
    for (const c of contestants) {
      const s = await measure(field, c, workload, round, options);
      cpu[c.name]!.push(s.cpuUs);
      rps[c.name]!.push(s.result.rps);
      process.stdout.write(
        `round ${round} ${c.name}: ${s.result.rps.toFixed(0)} req/s, ${s.cpuUs.toFixed(0)} µs CPU/req, ${s.upstreamConnections} new upstream connections\n`,
      );
    }
  }
  for (const name of ['A', 'B']) {
    process.stdout.write(
      `${name}: median ${median(rps[name]!).toFixed(0)} req/s, ${median(cpu[name]!).toFixed(0)} µs CPU/req\n`,
    );
  }
} finally {
  for (const c of contestants) await c.child.stop();
  await upstream.stop();
  await deletePrefix(prefix);
  rmSync(dir, { recursive: true, force: true });
}
