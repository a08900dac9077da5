/**
 * Where Escrow's CPU per request goes, stage by stage: Escrow in one process (bench/servers/escrow-ablation.mjs)
 * beside a bare undici proxy in the same process; first with every stage replaced by a replay of its answer (the
 * skeleton: server, routing, headers, forwarding, the pipeline's plumbing), then adding the real stages back one at
 * a time. Variants interleave within each round; every number is the median over rounds of the process's CPU per
 * answered request (/proc), the loadgen (autocannon, c=50) and the upstream in processes of their own.
 * Run: npm run build && npx tsx bench/ablation.ts [--rounds 3] [--duration 5] [--out bench/RESULTS-ablation.md]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Contestant, Field } from './lib/contestants.js';
import {
  agentSubject,
  checkFullPath,
  createBenchKeys,
  deletePrefix,
  openTask,
  writeEscrowConfig,
} from './lib/escrow.js';
import { measure, WORKLOADS } from './lib/measure.js';
import { freePort, startChild, startUpstream } from './lib/process.js';
import { median } from './lib/stats.js';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  allowNegative: true,
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    /** Where the table goes; by default bench/RESULTS-ablation.md, and nowhere for a partial run (--only, --workload). */
    out: { type: 'string' },
    /** Open loop at this many requests a second (bench/lib/loadgen.ts) instead of autocannon's closed loop. */
    rate: { type: 'string' },
    /** Profile one variant: its name (e.g. skeleton), the profile written to --prof-dir by node --cpu-prof. */
    profile: { type: 'string' },
    'prof-dir': { type: 'string', default: join(tmpdir(), 'escrow-ablation-prof') },
    /** With --profile: where the variant allocates (every allocation sampled, collected ones too) instead of its CPU. */
    'heap-prof': { type: 'boolean', default: false },
    /** With --heap-prof: only what outlived the young generation (what makes scavenges slow). */
    'heap-survivors': { type: 'boolean', default: false },
    /** Measure only these variants (comma-separated names, e.g. skeleton; bare is always measured): a quick A/B. */
    only: { type: 'string' },
    /** With --profile: measure the variant's CPU and GC pauses only, no profile (--no-cpu-prof). */
    'cpu-prof': { type: 'boolean', default: true },
    /** With --profile: a heap snapshot halfway through the measurement, written to --prof-dir. */
    snapshot: { type: 'boolean', default: false },
    /** Extra node options for the Escrow process. */
    'node-arg': { type: 'string', multiple: true },
    /** Measure only this workload (poll or hostile). */
    workload: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const durationMs = Number(values.duration) * 1000;

/** Each variant adds one real stage to the one before it; `bare` is the in-process undici reference. */
const STAGES = ['identify', 'task', 'policy', 'lease', 'scrub', 'metrics', 'audit'] as const;
const ALL_VARIANTS: { name: string; on: readonly string[] }[] = [
  { name: 'skeleton', on: [] },
  ...STAGES.map((stage, i) => ({ name: `+ ${stage}`, on: STAGES.slice(0, i + 1) })),
];
const only = values.only?.split(',').map((name) => name.trim());
const VARIANTS = only ? ALL_VARIANTS.filter((v) => only.includes(v.name)) : ALL_VARIANTS;
const MEASURED = values.workload ? WORKLOADS.filter((w) => w.name === values.workload) : WORKLOADS;
if (VARIANTS.length === 0) throw new Error(`--only: none of ${ALL_VARIANTS.map((v) => v.name).join(', ')}`);
if (MEASURED.length === 0) throw new Error(`--workload: one of ${WORKLOADS.map((w) => w.name).join(', ')}`);

const started = Date.now();
const load0 = loadavg();
const dir = mkdtempSync(join(tmpdir(), 'escrow-ablation-'));
const prefix = `escrowbench:${randomBytes(4).toString('hex')}:`;
const keys = await createBenchKeys(dir);
const { child: upstream, port: upstreamPort } = await startUpstream(repoRoot);
const spec = { name: 'ablation', policies: 'examples', workers: 1, upstreamPort, repoRoot, keys, prefix } as const;
const { port, adminPort, configPath } = await writeEscrowConfig(spec);
const [barePort, controlPort] = [await freePort(), await freePort()];
const child = await startChild(
  'escrow-ablation',
  process.execPath,
  [
    ...(values.profile && !values['heap-prof'] && values['cpu-prof']
      ? ['--cpu-prof', '--cpu-prof-dir', values['prof-dir']!]
      : []),
    ...(values['node-arg'] ?? []),
    join(repoRoot, 'bench/servers/escrow-ablation.mjs'),
    configPath,
    String(barePort),
    String(controlPort),
  ],
  {
    cwd: repoRoot,
    env: { ...process.env, ESCROW_LOG_LEVEL: 'warn' },
    readyUrl: `http://127.0.0.1:${adminPort}/readyz`,
    timeoutMs: 60_000,
  },
);

async function stages(on: readonly string[]): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${controlPort}/stages?on=${on.join(',')}`).catch((error) => {
    throw new Error(`the Escrow process failed: ${child.tail()}`, { cause: error });
  });
  if (res.status !== 200) throw new Error(`switching stages failed: ${res.status} ${await res.text()}`);
}

const lines: string[] = [];
async function main(): Promise<void> {
  const token = await keys.sign(agentSubject(0));
  const taskId = await openTask(port, token, 'ablation');
  await checkFullPath(port, { token, taskId });
  const field: Field = { upstream, upstreamPort, contestants: [], token, taskId, skipped: [], stop: async () => {} };
  const escrow: Contestant = { name: 'escrow', description: '', port, child };
  const bare: Contestant = { name: 'bare', description: '', port: barePort, child };
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  const options = {
    connections: 50,
    durationMs,
    loadgen: rate === undefined ? ('autocannon' as const) : ('builtin' as const),
    ...(rate === undefined ? {} : { rate }),
  };
  if (values.profile) {
    const variant = [{ name: 'bare', on: [] }, ...ALL_VARIANTS].find((v) => v.name === values.profile);
    if (!variant) throw new Error(`--profile: bare or one of ${ALL_VARIANTS.map((v) => v.name).join(', ')}`);
    await stages(variant.on);
    await measure(field, variant.name === 'bare' ? bare : escrow, MEASURED[0]!, 0, { ...options, durationMs: 1000 });
    const control = (path: string): Promise<void> =>
      fetch(`http://127.0.0.1:${controlPort}${path}`).then(async (r) => {
        if (r.status !== 200) throw new Error(`${path}: ${await r.text()}`);
      });
    const out = join(values['prof-dir']!, `${variant.name.replace(/\W/g, '')}.heapprofile`);
    if (values['heap-prof']) {
      mkdirSync(values['prof-dir']!, { recursive: true });
      await control(`/allocations/start?survivors=${values['heap-survivors'] ? 1 : 0}`);
    }
    await control('/gc/start');
    if (values.snapshot) {
      mkdirSync(values['prof-dir']!, { recursive: true });
      const at = join(values['prof-dir']!, `${variant.name.replace(/\W/g, '')}.heapsnapshot`);
      setTimeout(() => void control(`/snapshot?out=${encodeURIComponent(at)}`), durationMs / 2);
    }
    const s = await measure(field, variant.name === 'bare' ? bare : escrow, MEASURED[0]!, 1, options);
    if (values['heap-prof']) await control(`/allocations/stop?out=${encodeURIComponent(out)}`);
    const gc = (await (await fetch(`http://127.0.0.1:${controlPort}/gc/stop`)).json()) as Record<string, number[]>;
    const answered = s.result.requests;
    for (const [kind, [count, ms]] of Object.entries(gc)) {
      process.stdout.write(
        `gc ${kind}: ${count} pauses, ${ms!.toFixed(0)} ms in all, ${((ms! * 1000) / answered).toFixed(1)} µs per request\n`,
      );
    }
    process.stdout.write(
      `${variant.name}: ${s.result.rps.toFixed(0)} req/s (${answered.toFixed(0)} answered), p50 ${(s.result.p50 / 1000).toFixed(2)} ms, p99 ${(s.result.p99 / 1000).toFixed(2)} ms, ${s.cpuUs.toFixed(0)} µs/req, ${s.result.errors} errors, ${s.result.non2xx} non-2xx; profile in ${values['prof-dir']}\n`,
    );
    return; // the child writes its profile as it exits
  }
  const cpu = new Map<string, number[]>();
  const rps = new Map<string, number[]>();
  for (const workload of MEASURED) {
    // Warm-up: every variant once, the JIT settled on each.
    for (const v of VARIANTS) {
      await stages(v.on);
      await measure(field, escrow, workload, 0, { ...options, durationMs: 1000 });
    }
    await measure(field, bare, workload, 0, { ...options, durationMs: 1000 });
  }
  for (let round = 1; round <= rounds; round += 1) {
    for (const workload of MEASURED) {
      for (const v of [{ name: 'bare', on: [] }, ...VARIANTS]) {
        if (v.name !== 'bare') await stages(v.on);
        const s = await measure(field, v.name === 'bare' ? bare : escrow, workload, round, options);
        if (s.result.errors > 0 || s.result.non2xx > 0)
          throw new Error(`${v.name}: ${s.result.errors} errors, ${s.result.non2xx} non-2xx`);
        const key = `${workload.name}|${v.name}`;
        cpu.set(key, [...(cpu.get(key) ?? []), s.cpuUs]);
        rps.set(key, [...(rps.get(key) ?? []), s.result.rps]);
        process.stdout.write(
          `round ${round} ${workload.name.padEnd(7)} ${v.name.padEnd(11)} ${s.result.rps.toFixed(0).padStart(6)} req/s  ${s.cpuUs.toFixed(0)} µs/req\n`,
        );
      }
    }
  }
  await stages(STAGES);
  lines.push(
    '# Ablation: Escrow built up stage by stage',
    '',
    `Produced by \`npx tsx bench/ablation.ts --rounds ${rounds} --duration ${values.duration}${rate === undefined ? '' : ` --rate ${rate}`}\` (after \`npm run build\`) on ${new Date().toISOString().slice(0, 10)} in ${((Date.now() - started) / 60000).toFixed(1)} min: Node ${process.version}, load average ${load0.map((l) => l.toFixed(2)).join(' ')} before and ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} after.`,
    '',
    `One process holds Escrow and a bare undici proxy (the same code as bench/servers/undici-proxy.mjs). **skeleton** is Escrow with every stage below replaced by a replay of the answer the real stage gave (the server, routing, header handling, the body path, forwarding, the pipeline, the breaker, the slots, the task binding); each next row adds one real stage back. CPU is the process's user+system time per answered request (/proc), the median over rounds; each variant ${values.duration} s per round, interleaved; ${rate === undefined ? 'autocannon, closed loop, c=50 (each variant at its own maximum rate)' : `open loop at ${rate} req/s for every variant (bench/lib/loadgen.ts), so that the kernel's per-request cost of waking the other processes is the same for all`}.`,
    '',
  );
  for (const workload of MEASURED) {
    const bareUs = median(cpu.get(`${workload.name}|bare`)!);
    lines.push(
      `## ${workload.name}: ${workload.description}`,
      '',
      '| variant | CPU µs/req | added µs | × bare | req/s |',
      '|---|---|---|---|---|',
    );
    let previous = bareUs;
    for (const v of [{ name: 'bare' }, ...VARIANTS]) {
      const us = median(cpu.get(`${workload.name}|${v.name}`)!);
      const added = v.name === 'bare' ? '–' : `${us - previous >= 0 ? '+' : ''}${(us - previous).toFixed(0)}`;
      lines.push(
        `| ${v.name === 'bare' ? 'bare undici (same process)' : v.name} | ${us.toFixed(0)} | ${added} | ${(us / bareUs).toFixed(2)}× | ${median(rps.get(`${workload.name}|${v.name}`)!).toFixed(0)} |`,
      );
      previous = us;
    }
    lines.push('');
  }
  const out = values.out ?? (only || values.workload ? undefined : join(repoRoot, 'bench/RESULTS-ablation.md'));
  if (out) writeFileSync(out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n${out ? `wrote ${out}` : '(partial run: no file written)'}\n`);
}
try {
  await main();
} finally {
  await child.stop();
  await upstream.stop();
  await deletePrefix(prefix);
  rmSync(dir, { recursive: true, force: true });
}
