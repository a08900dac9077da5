import { parseArgs } from 'node:util';
import { runSoak, type SoakReport } from './soak.js';

/**
 * `npx tsx bench/soak/run.ts --seconds 60 [--agents 8]` — a bounded mixed workload against an Escrow process
 * it starts itself (real Redis at $ESCROW_TEST_REDIS or 127.0.0.1:6379, own key prefix, deleted after), then
 * the checks of docs/reliability.md. Exits 1 when a check fails.
 */
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, agents: { type: 'string', default: '8' } },
});

function print(report: SoakReport): void {
  const lines = [
    '',
    `Escrow soak: ${report.requests} answers, latency p50 ${report.latencyMs.p50.toFixed(1)} ms, p99 ${report.latencyMs.p99.toFixed(1)} ms, max ${report.latencyMs.max.toFixed(0)} ms`,
    '',
    'answers (what status: count):',
    ...Object.entries(report.counts)
      .sort()
      .map(([k, v]) => `  ${k.padEnd(16)} ${v}`),
    '',
    `RSS samples (MiB): ${report.rssMiB.join(' ')}`,
    '',
    'checks:',
    ...report.checks.map((c) => `  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(46)} ${c.detail}`),
    '',
    report.ok ? 'soak: all checks passed' : 'soak: FAILED',
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

const report = await runSoak({
  seconds: Number(values.seconds),
  agents: Number(values.agents),
  onProgress: (line) => process.stderr.write(`  … ${line}\n`),
});
print(report);
process.exit(report.ok ? 0 : 1);
