/**
 * Escrow's benchmark: Escrow on its full path against bare pass-through proxies, interleaved over rounds on one
 * machine. Run: npm run bench [-- --quick | --soak-memory | --help]. See docs/performance.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseBenchArgs } from './lib/args.js';
import { type Field, startField } from './lib/contestants.js';
import { createBenchKeys, deletePrefix } from './lib/escrow.js';
import { measure, type Sample, WORKLOADS } from './lib/measure.js';
import { type ReportInput, renderReport } from './lib/report.js';
import { pick } from './lib/stats.js';
import { runScrubBench } from './scrub.js';
import { runSoak } from './soak.js';

const repoRoot = resolve(import.meta.dirname, '..');

const ESCROWS = [
  { name: 'escrow', policies: 'examples', workers: 1, description: 'Escrow, full path, the 10 example policies' },
  {
    name: 'escrow-200',
    policies: 'generated',
    workers: 1,
    description: 'Escrow, full path, 200 generated policies more',
  },
  { name: 'escrow-w2', policies: 'examples', workers: 2, description: 'Escrow, full path, `--workers 2`' },
] as const;
/** Who runs at a fixed rate (half the reference's max), for added latency. */
const AT_RATE = ['undici', 'escrow', 'escrow-200'];

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function describe(s: Sample): string {
  const r = s.result;
  const ms = (us: number) => (us / 1000).toFixed(2);
  return (
    `round ${s.round} ${s.workload.padEnd(7)} ${s.mode}${s.rate ? `@${s.rate}` : ''} ${s.contestant.padEnd(11)} ` +
    `${r.rps.toFixed(0).padStart(6)} req/s  p50 ${ms(r.p50)} p99 ${ms(r.p99)} p99.9 ${ms(r.p999)} ms  ` +
    `cpu ${s.cpuUs.toFixed(0)} µs/req  errors ${r.errors} non2xx ${r.non2xx}`
  );
}

async function rounds(field: Field, args: ReturnType<typeof parseBenchArgs>): Promise<Sample[]> {
  const options = { connections: args.connections, durationMs: args.durationMs, loadgen: args.loadgen };
  for (const workload of WORKLOADS) {
    for (const c of field.contestants) await measure(field, c, workload, 0, { ...options, durationMs: args.warmupMs });
  }
  log(`warm-up done (${args.warmupMs} ms per contestant and workload)`);
  const samples: Sample[] = [];
  for (let round = 1; round <= args.rounds; round += 1) {
    for (const workload of WORKLOADS) {
      for (const c of field.contestants) {
        const sample = await measure(field, c, workload, round, options);
        samples.push(sample);
        log(describe(sample));
      }
    }
    const reference = pick(samples, { round, workload: 'poll', mode: 'max', contestant: 'undici' })[0];
    const escrow = pick(samples, { round, workload: 'poll', mode: 'max', contestant: 'escrow' })[0];
    const rates = [
      ['rate', Math.round((reference?.result.rps ?? 2000) / 2)],
      ['rate-escrow', Math.round((escrow?.result.rps ?? 1000) / 2)],
    ] as const;
    for (const [mode, rate] of rates) {
      for (const workload of WORKLOADS) {
        const who = mode === 'rate' ? AT_RATE : ['undici', 'escrow'];
        for (const c of field.contestants.filter((x) => who.includes(x.name))) {
          const sample = await measure(field, c, workload, round, { ...options, loadgen: 'builtin', rate, mode });
          samples.push(sample);
          log(describe(sample));
        }
      }
    }
  }
  return samples;
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.render) {
    // Render again from the saved run, e.g. after another RESULTS-*.md section was added.
    const record = JSON.parse(
      readFileSync(resolve(repoRoot, args.out.replace(/\.md$/, '.json')), 'utf8'),
    ) as ReportInput;
    writeFileSync(resolve(repoRoot, args.out), renderReport({ ...record, repoRoot }));
    log(`rendered ${args.out} again from the saved run`);
    return;
  }
  if (args.scrub || !args.soakMemory) {
    // In-process and before the field starts, so no proxy competes with it for the CPU.
    runScrubBench(log, !args.quick);
    if (args.scrub) return;
  }
  if (args.build) execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'escrow-bench-'));
  let saved: ReportInput | undefined;
  const prefix = `escrowbench:${randomBytes(4).toString('hex')}:`;
  const keys = await createBenchKeys(dir);
  try {
    if (args.soakMemory) {
      await runSoak({ args, repoRoot, keys, prefix, log });
      return;
    }
    const loadBefore = loadavg();
    const started = Date.now();
    const field = await startField({
      repoRoot,
      keys,
      prefix,
      nginx: args.nginx,
      escrows: ESCROWS,
      escrowNodeArgs: args.escrowNodeArgs,
    });
    log(
      `started: ${field.contestants.map((c) => c.name).join(', ')}${field.skipped.length ? `; skipped ${field.skipped.join(', ')}` : ''}`,
    );
    try {
      const samples = await rounds(field, args);
      const record: ReportInput = {
        args,
        samples,
        field: {
          contestants: field.contestants.map((c) => ({ name: c.name, description: c.description, escrow: !!c.escrow })),
          skipped: field.skipped,
        },
        repoRoot,
        loadBefore,
        loadAfter: loadavg(),
        elapsedMs: Date.now() - started,
        date: new Date().toISOString().slice(0, 10),
      };
      writeFileSync(resolve(repoRoot, args.out.replace(/\.md$/, '.json')), `${JSON.stringify(record)}\n`);
      writeFileSync(resolve(repoRoot, args.out), renderReport(record));
      log(`\nwrote ${args.out}`);
      saved = record;
    } finally {
      await field.stop();
    }
  } finally {
    const deleted = await deletePrefix(prefix);
    log(`cleaned up ${deleted} Redis keys under ${prefix}`);
    rmSync(dir, { recursive: true, force: true });
  }
  if (saved && args.breakdown) {
    // Where the time goes, measured in the same session once the field is stopped; then the report again, with them.
    for (const step of BREAKDOWN) {
      log(`\n${step.what}: npx tsx ${step.args.join(' ')}`);
      execFileSync(process.execPath, ['--import', 'tsx', ...step.args], { cwd: repoRoot, stdio: 'inherit' });
    }
    writeFileSync(resolve(repoRoot, args.out), renderReport(saved));
    log(`\nwrote ${args.out} again, with the breakdown`);
  }
}

/**
 * The runs behind "where the time goes" (bench/RESULTS-*.md, merged into the report): the ablation, stage by stage
 * against a bare proxy in one process; a CPU profile of the full path by stage; the audit log in and out of a thread.
 */
const BREAKDOWN = [
  {
    // Five rounds: with three, one run of this machine put the hostile skeleton at 1.50× bare (bare's median fell
    // to 113 µs from 128 in the run before) while five-round runs gave 1.15–1.29×.
    what: 'ablation (each stage added to a skeleton, against bare undici)',
    args: ['bench/ablation.ts', '--rounds', '5', '--duration', '4', '--rate', '3000'],
  },
  {
    what: 'profile of the full path by stage',
    args: ['bench/profile.ts', '--workload', 'poll', '--duration', '10', '--out', 'bench/RESULTS-profile.md'],
  },
  { what: 'audit group commit, in the thread and in a worker', args: ['bench/audit.ts', '--seconds', '3'] },
] as const;

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
