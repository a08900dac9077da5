/**
 * Profile Escrow's full path under load: node --cpu-prof on the Escrow process, the builtin generator at c=50.
 * Run: npx tsx bench/profile.ts [--workload poll|hostile] [--policies examples|generated] [--duration S] [--keep DIR]
 *      [--out bench/RESULTS-profile.md]
 * Prints self and inclusive time by function and by package/file (the profile itself stays out of git); with --out,
 * also writes the busy time by pipeline stage and the top functions as markdown (merged into bench/RESULTS.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Field } from './lib/contestants.js';
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
import { readProfile, type SampleWindow, samplesIn, stagesOfProfile, summarizeProfile } from './lib/profile-summary.js';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    workload: { type: 'string', default: 'poll' },
    policies: { type: 'string', default: 'examples' },
    duration: { type: 'string', default: '10' },
    keep: { type: 'string' },
    out: { type: 'string' },
  },
});
const workload = WORKLOADS.find((w) => w.name === values.workload)!;
const dir = mkdtempSync(join(tmpdir(), 'escrow-profile-'));
const profDir = values.keep ?? join(dir, 'prof');
mkdirSync(profDir, { recursive: true });
const prefix = `escrowbench:${randomBytes(4).toString('hex')}:`;
const keys = await createBenchKeys(dir);
const { child: upstream, port: upstreamPort } = await startUpstream(repoRoot);
const escrow = await startEscrowProcess({
  name: 'escrow',
  policies: values.policies === 'generated' ? 'generated' : 'examples',
  workers: 1,
  upstreamPort,
  repoRoot,
  keys,
  prefix,
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
});
const started = Date.now();
let measured = { rps: 0, cpuUs: 0 };
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
let window: SampleWindow | undefined;
try {
  const token = await keys.sign(agentSubject(0));
  const taskId = await openTask(escrow.port, token, 'bench: profile');
  await checkFullPath(escrow.port, { token, taskId });
  const field = { upstream, upstreamPort, token, taskId } as unknown as Field;
  const contestant = { name: 'escrow', description: '', port: escrow.port, child: escrow.child };
  const options = { connections: 50, durationMs: Number(values.duration) * 1000, loadgen: 'builtin' as const };
  const fromUs = monotonicUs();
  const sample = await measure(field, contestant, workload, 1, options);
  window = { fromUs, toUs: monotonicUs() };
  measured = { rps: sample.result.rps, cpuUs: sample.cpuUs };
  process.stdout.write(`${sample.result.rps.toFixed(0)} req/s, ${sample.cpuUs.toFixed(0)} µs CPU per request\n`);
} finally {
  await escrow.child.stop();
  await upstream.stop();
  await deletePrefix(prefix);
}
const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error('no profile written');
// Only the samples of the load: the same stretch as the CPU per request (start-up and shutdown left out). Should
// the clocks not agree (no sample inside), the whole profile is used and the report says so.
const profile = readProfile(join(profDir, file));
const counted = window === undefined ? undefined : samplesIn(profile, window);
if (counted !== undefined && counted.inside === 0) window = undefined;
process.stdout.write(
  window === undefined
    ? 'the whole profile (no sample inside the measured stretch)\n'
    : `${counted!.inside} of ${counted!.all} samples inside the measured stretch\n`,
);
const summary = summarizeProfile(profile, 40, window);
const print = (title: string, rows: [string, number][]) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of rows) process.stdout.write(`${((v / summary.totalMs) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
};
print('self time by package / file', summary.selfByPlace.slice(0, 25));
print('self time by function', summary.selfByFunction.slice(0, 40));
print('inclusive time by function', summary.inclusiveByFunction.slice(0, 60));
if (values.out !== undefined) {
  const { stages, busyMs: busy } = stagesOfProfile(profile, window);
  const pct = (share: number) => `${(share * 100).toFixed(1)} %`;
  writeFileSync(
    values.out,
    [
      `# Profile: where the full path's CPU goes (${workload.name})`,
      '',
      `Produced by \`npx tsx bench/profile.ts --workload ${workload.name} --policies ${values.policies} --duration ${values.duration} --out ${values.out}\` (after \`npm run build\`) on ${new Date().toISOString().slice(0, 10)} in ${((Date.now() - started) / 60000).toFixed(1)} min, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(
          ' ',
        )} after: Escrow alone (one process, \`node --cpu-prof\`), c=50, the builtin generator; ${measured.rps.toFixed(0)} req/s, **${measured.cpuUs.toFixed(0)} µs CPU per request**.`,
      '',
      `The main thread's busy samples ${window === undefined ? '(of the whole profile: start-up included, since no sample fell inside the measured stretch)' : '(only those taken while the load ran, as the CPU per request; start-up and shutdown left out)'} by stage:` +
        " each sample counts for the innermost Escrow frame on its stack (a package or Node frame called from the scrubber counts for scrub; writing the answer to the agent's socket is plumbing). **outside Escrow's frames** is what runs from the event loop without an Escrow caller: Node's HTTP server and parser, undici's parser (wasm) and socket writes, ioredis' replies, timers. µs per request is the share times the CPU per request (the process's other threads, e.g. GC helpers, are in the CPU but not in the samples).",
      '',
      '| stage | share of busy samples | ≈ µs per request |',
      '|---|---|---|',
      ...stages.map((s) => `| ${s.stage} | ${pct(s.share)} | ${(s.share * measured.cpuUs).toFixed(0)} |`),
      '',
      'Top functions by self time (share of busy samples):',
      '',
      '| function | share |',
      '|---|---|',
      ...summary.selfByFunction
        .filter(([k]) => !k.startsWith('(idle)'))
        .slice(0, 20)
        .map(([k, v]) => `| \`${k}\` | ${pct(v / busy)} |`),
      '',
    ].join('\n'),
  );
  process.stdout.write(`\nwrote ${values.out}\n`);
}
if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
else process.stdout.write(`\nprofile kept in ${profDir}\n`);
