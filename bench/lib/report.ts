import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { BenchArgs } from './args.js';
import { type Sample, WORKLOADS } from './measure.js';
import { missedSection } from './missed.js';
import { GENERATED_MIX } from './policies.js';
import { median, pick, roundDifferences, roundRatios } from './stats.js';

/** Everything a report is rendered from; saved as bench/results.json so it can be rendered again (`--render`). */
export interface ReportInput {
  readonly args: BenchArgs;
  readonly samples: readonly Sample[];
  readonly field: {
    readonly contestants: readonly { name: string; description: string; escrow?: unknown }[];
    readonly skipped: readonly string[];
  };
  readonly repoRoot: string;
  readonly loadBefore: number[];
  readonly loadAfter: number[];
  readonly elapsedMs: number;
  /** YYYY-MM-DD of the run. */
  readonly date?: string;
}

const ms = (us: number) => (Number.isFinite(us) ? (us / 1000).toFixed(2) : '–');
const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
const list = (values: readonly number[], f: (v: number) => string) => values.map(f).join(', ');

function throughputTable(input: ReportInput, workload: Sample['workload']): string[] {
  const rows = [
    '| contestant | req/s | × undici | × fastify | p50 ms | p99 ms | p99.9 ms | proxy CPU µs/req | errors / non-2xx |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of input.field.contestants) {
    const runs = pick(input.samples, { workload, mode: 'max', contestant: c.name });
    if (runs.length === 0) continue;
    const m = (f: (s: Sample) => number) => median(runs.map(f));
    const vsUndici = median(roundRatios(input.samples, workload, 'max', c.name, 'undici', (s) => s.result.rps));
    const vsFastify = median(roundRatios(input.samples, workload, 'max', c.name, 'fastify', (s) => s.result.rps));
    const bad = runs.reduce((n, s) => n + s.result.errors, 0) + ' / ' + runs.reduce((n, s) => n + s.result.non2xx, 0);
    rows.push(
      `| ${c.name} | ${m((s) => s.result.rps).toFixed(0)} | ${x(vsUndici)} | ${x(vsFastify)} | ${ms(m((s) => s.result.p50))} | ` +
        `${ms(m((s) => s.result.p99))} | ${ms(m((s) => s.result.p999))} | ${m((s) => s.cpuUs).toFixed(0)} | ${bad} |`,
    );
  }
  return rows;
}

function rateTable(input: ReportInput, workload: Sample['workload'], mode: 'rate' | 'rate-escrow'): string[] {
  const rows = [
    '| contestant | rate req/s | achieved | p50 ms | p99 ms | p99.9 ms | p99 − undici p99 (per round) |',
    '|---|---|---|---|---|---|---|',
  ];
  const names = [...new Set(pick(input.samples, { workload, mode }).map((s) => s.contestant))];
  for (const name of names) {
    const runs = pick(input.samples, { workload, mode, contestant: name });
    const m = (f: (s: Sample) => number) => median(runs.map(f));
    const added = roundDifferences(input.samples, workload, mode, name, 'undici', (s) => s.result.p99);
    const achieved = m((s) => s.result.rps);
    const saturated = achieved < 0.95 * m((s) => s.rate ?? 0) ? ' (saturated: queueing)' : '';
    rows.push(
      `| ${name} | ${m((s) => s.rate ?? 0).toFixed(0)} | ${achieved.toFixed(0)}${saturated} | ${ms(m((s) => s.result.p50))} | ` +
        `${ms(m((s) => s.result.p99))} | ${ms(m((s) => s.result.p999))} | ${name === 'undici' ? '–' : list(added, ms)} |`,
    );
  }
  return rows;
}

interface Target {
  readonly name: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

function targets(input: ReportInput): Target[] {
  const s = input.samples;
  const rps = (x: Sample) => x.result.rps;
  const out: Target[] = [];
  for (const w of WORKLOADS) {
    const vsUndici = median(roundRatios(s, w.name, 'max', 'escrow', 'undici', rps));
    out.push({ name: `${w.name}: Escrow ≥ 0.75× bare undici req/s`, measured: x(vsUndici), met: vsUndici >= 0.75 });
    const vsFastify = median(roundRatios(s, w.name, 'max', 'escrow', 'fastify', rps));
    out.push({
      name: `${w.name}: Escrow ≥ 1.1× @fastify/http-proxy req/s`,
      measured: x(vsFastify),
      met: vsFastify >= 1.1,
    });
    const added = median(roundDifferences(s, w.name, 'rate', 'escrow', 'undici', (x) => x.result.p99));
    const atRate = pick(s, { workload: w.name, mode: 'rate', contestant: 'escrow' });
    const carried = median(atRate.map((x) => x.result.rps / (x.rate ?? 1)));
    const saturated = carried < 0.95 ? ` (saturated: Escrow carried ${(carried * 100).toFixed(0)}% of the rate)` : '';
    out.push({
      name: `${w.name}: Escrow p99 ≤ undici p99 + 1 ms at half undici's max`,
      measured: `+${ms(added)} ms${saturated}`,
      met: added <= 1000,
    });
    const own = median(roundDifferences(s, w.name, 'rate-escrow', 'escrow', 'undici', (x) => x.result.p99));
    const ownP50 = median(roundDifferences(s, w.name, 'rate-escrow', 'escrow', 'undici', (x) => x.result.p50));
    out.push({
      name: `${w.name}: Escrow − undici at half Escrow's own max (reported)`,
      measured: `p50 +${ms(ownP50)} ms, p99 +${ms(own)} ms`,
      met: undefined,
    });
    const policies = median(roundRatios(s, w.name, 'max', 'escrow-200', 'escrow', rps));
    out.push({ name: `${w.name}: 200 policies ≥ 0.9× 10 policies req/s`, measured: x(policies), met: policies >= 0.9 });
    const workers = median(roundRatios(s, w.name, 'max', 'escrow-w2', 'escrow', rps));
    out.push({
      name: `${w.name}: --workers 2 over --workers 1 (reported, no target)`,
      measured: x(workers),
      met: undefined,
    });
  }
  const soak = join(input.repoRoot, 'bench/RESULTS-soak.md');
  const text = existsSync(soak) ? readFileSync(soak, 'utf8') : '';
  const verdict = /RSS target: (met|missed) — peak ([\d.]+) MB.*?\(([+-][\d.]+%)/.exec(text);
  out.push({
    name: 'RSS ≤ 200 MB after 1 M requests over 10 000 tasks, flat after warm-up (`--soak-memory`)',
    measured: verdict ? `peak ${verdict[2]} MB, ${verdict[3]} first → last third (Memory soak below)` : 'not run yet',
    met: verdict ? verdict[1] === 'met' : undefined,
  });
  return out;
}

function rssLines(input: ReportInput): string[] {
  return input.field.contestants
    .filter((c) => c.escrow)
    .map((c) => {
      const runs = pick(input.samples, { contestant: c.name });
      return `- ${c.name}: ${list(
        runs.map((r) => r.rss / 2 ** 20),
        (v) => v.toFixed(0),
      )} MB (after each run, in order)`;
    });
}

function merged(repoRoot: string): string[] {
  const dir = join(repoRoot, 'bench');
  const files = readdirSync(dir)
    .filter((f) => /^RESULTS-.+\.md$/.test(f) && f !== 'RESULTS-quick.md')
    .sort();
  return files.flatMap((f) => ['', `<!-- merged from bench/${f} -->`, readFileSync(join(dir, f), 'utf8').trim()]);
}

/** The markdown of bench/RESULTS.md. */
export function renderReport(input: ReportInput): string {
  const { args } = input;
  const command = `npm run bench${args.argv.length ? ` -- ${args.argv.join(' ')}` : ''}`;
  const cpu = cpus();
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(' ');
  const table = targets(input);
  const lines = [
    '# Benchmark results',
    '',
    `Produced by \`${command}\` on ${input.date ?? new Date().toISOString().slice(0, 10)} in ${(input.elapsedMs / 60_000).toFixed(1)} min: ` +
      `Node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? '?'}, load average ${load(input.loadBefore)} before and ` +
      `${load(input.loadAfter)} after.`,
    '',
    `${args.rounds} round(s); in each, every contestant in turn (A B C …) for ${args.durationMs / 1000} s per workload, ` +
      `c=${args.connections} keep-alive connections, ${args.loadgen} as the load generator; then the fixed-rate runs. ` +
      'Medians over rounds; every ratio is taken between two runs of the same round, then the median of those ratios. ' +
      'Each proxy, the upstream (1 KiB JSON) and the load generator are separate processes on the same ' +
      `${cpu.length} cores: the generator and the upstream compete with the proxy for CPU, so absolute req/s understate ` +
      'what a proxy does on its own; "proxy CPU µs/req" (from /proc) is the cost that does not depend on that.',
    '',
    '## Targets',
    '',
    '| target | measured | met |',
    '|---|---|---|',
    ...table.map((t) => `| ${t.name} | ${t.measured} | ${t.met === undefined ? '–' : t.met ? 'yes' : '**no**'} |`),
    '',
    ...missedSection(
      input.repoRoot,
      table.filter((t) => t.met === false).map((t) => t.name),
      input.date ?? new Date().toISOString().slice(0, 10),
    ),
  ];
  for (const w of WORKLOADS) {
    lines.push(`## Max throughput — ${w.description}`, '', ...throughputTable(input, w.name), '');
    lines.push(
      `### Latency at a fixed rate (half undici's max, open loop) — ${w.name}`,
      '',
      ...rateTable(input, w.name, 'rate'),
      '',
      `### Latency at a fixed rate (half Escrow's own max, open loop) — ${w.name}`,
      '',
      ...rateTable(input, w.name, 'rate-escrow'),
      '',
    );
  }
  lines.push(
    '## Escrow RSS',
    '',
    ...rssLines(input),
    '',
    '## Contestants',
    '',
    ...input.field.contestants.map((c) => `- **${c.name}**: ${c.description}`),
    ...input.field.skipped.map((s) => `- skipped: ${s}`),
    '',
    'Every Escrow runs the full path: a real ES256 JWT-SVID, a task, Cedar, a lease from Redis (127.0.0.1:6379, bench ' +
      'key prefix deleted afterwards), header injection (`x-api-key`), response scrubbing, audit to the Redis stream and a ' +
      `file, Prometheus metrics. Policies: ${GENERATED_MIX}.`,
    '',
    'Latencies: autocannon records whole milliseconds; the fixed-rate runs use bench/lib/loadgen.ts (µs, open loop, ' +
      "a request counts from when it was due, so queueing behind a slow answer is not hidden). autocannon's own " +
      "`overallRate` sends each second's quota in a burst, which measures c=50 saturation, not a steady rate.",
    ...merged(input.repoRoot),
    '',
  );
  return lines.join('\n');
}
