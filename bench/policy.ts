/**
 * Cedar authorization cost per request: the plain form (one preparsed set, whole request) against the optimised one
 * (one preparsed set per target, each sent only what its policies read), at 10 and 200 policies; then the gateway
 * bench's policy sets on its poll and hostile workloads, with and without path-prefix slicing (bench/lib/policy-workloads.ts).
 * Run: npx tsx bench/policy.ts   (writes bench/RESULTS-policy.md; `--workloads` runs and prints only the second part)
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { type CompiledPolicySet, type CompileOptions, compilePolicySet } from '../gateway/policy/compile.js';
import { evaluate } from '../gateway/policy/decide.js';
import { type PolicySetSource, parsePolicySet } from '../gateway/policy/load.js';
import type { AuthorizationRequest } from '../gateway/policy/types.js';
import { policySpecArb, policyText, requestArb } from '../test/policy/fixtures/policy-gen.js';
import {
  benchPolicySets,
  measureLookup,
  measureWorkloads,
  WORKLOAD_FORMS,
  type Workload,
} from './lib/policy-workloads.js';

const CALLS = 10_000;
const ROUNDS = 5;
const WARMUP = 3_000;
const TARGETS = 38;
const POLICIES = join(import.meta.dirname, '..', 'policies');
const schema = readFileSync(join(POLICIES, 'schema.cedarschema'), 'utf8');

function examples(): Map<string, string> {
  const files = readdirSync(POLICIES).filter((f) => f.endsWith('.cedar'));
  return new Map(files.map((f) => [f, readFileSync(join(POLICIES, f), 'utf8')]));
}

/** Five rules per target in the style of the examples: what a platform team writes for one upstream. */
function targetRules(t: number): string {
  const target = `resource == Escrow::Target::"t${t}"`;
  return `@id("t${t}-read")
permit (principal is Escrow::Agent, action == Escrow::Action::"read", ${target}) when { context has task };
@id("t${t}-write")
permit (principal is Escrow::Agent, action == Escrow::Action::"write", ${target})
when { context has task && context.task.intent like "*CHG-*" };
@id("t${t}-delete-team")
forbid (principal is Escrow::Agent, action == Escrow::Action::"delete", ${target})
unless { principal.hasTag("team") && principal.getTag("team").contains("team-${t}") };
@id("t${t}-humans")
permit (principal is Escrow::Human, action, ${target});
@id("t${t}-no-admin")
forbid (principal, action, ${target}) when { context.request.path like "/admin*" };
`;
}

/** The 10 example guardrails (any target) plus five rules in the examples' style for each of 38 targets. */
function twoHundredRealistic(): PolicySetSource {
  const text = Array.from({ length: TARGETS }, (_, t) => targetRules(t)).join('\n');
  return parsePolicySet(schema, new Map([...examples(), ['targets.cedar', text]]));
}

/** The 10 example guardrails plus 190 generated rules, five per target, whose conditions read every request field. */
function twoHundredGenerated(): PolicySetSource {
  const specs = fc.sample(policySpecArb(TARGETS), { numRuns: 190, seed: 42 });
  const text = specs.map((s, i) => policyText(`rule-${i}`, { ...s, resource: i % TARGETS }, TARGETS)).join('\n');
  return parsePolicySet(schema, new Map([...examples(), ['generated.cedar', text]]));
}

function requests(): AuthorizationRequest[] {
  return fc.sample(requestArb(TARGETS), { numRuns: 256, seed: 7 }).map((r) => ({ ...r, clientIp: '10.1.2.3' }));
}

function round(evaluateOne: (i: number) => void): { p50: number; p99: number; cpu: number } {
  const times: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) {
    const start = process.hrtime.bigint();
    evaluateOne(i);
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  const used = process.cpuUsage(cpu);
  times.sort((a, b) => a - b);
  return {
    p50: times[Math.floor(CALLS / 2)]!,
    p99: times[Math.floor(CALLS * 0.99)]!,
    cpu: (used.user + used.system) / CALLS,
  };
}

/** ROUNDS rounds after a warm-up: the median round's p50 and CPU, and the quietest round's p99. */
function measure(source: PolicySetSource, options: CompileOptions, batch: AuthorizationRequest[]) {
  const set = compilePolicySet(source, options);
  const evaluateOne = (i: number) => {
    const request = batch[i % batch.length]!;
    evaluate(set, request, request.now);
  };
  for (let i = 0; i < WARMUP; i++) evaluateOne(i);
  const rounds = Array.from({ length: ROUNDS }, () => round(evaluateOne));
  set.release();
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    p50: median(rounds.map((r) => r.p50)),
    p99: Math.min(...rounds.map((r) => r.p99)),
    p99Median: median(rounds.map((r) => r.p99)),
    cpu: median(rounds.map((r) => r.cpu)),
  };
}

const FORMS: Array<[string, CompileOptions]> = [
  ['before: one set, whole request', { slice: false, prune: false }],
  ['sliced, whole request', { slice: true, prune: false }],
  ['after: sliced, pruned payload', { slice: true, prune: true }],
];

/** The bench's sets on its workloads: µs per decision, each form's 210/10 ratio, and the slice lookup alone. */
function workloadSection(): string[] {
  const lines: string[] = [];
  const ratios: string[] = [];
  const sources = benchPolicySets(POLICIES);
  for (const [form, options] of WORKLOAD_FORMS) {
    const sets = sources.map(
      ([label, source]) => [label, compilePolicySet(source, options)] as [string, CompiledPolicySet],
    );
    const { us, ratio } = measureWorkloads(sets);
    for (const [label, set] of sets) {
      const cells = (['poll', 'hostile'] as Workload[]).map((w) => {
        const { wall, cpu } = us.get(`${label}\0${w}`)!;
        return `${wall.toFixed(1)} | ${cpu.toFixed(1)}`;
      });
      lines.push(`| ${label} | ${form} | ${cells.join(' | ')} | ${measureLookup(set).toFixed(0)} |`);
      console.log(lines.at(-1));
      set.release();
    }
    ratios.push(`| ${form} | ${ratio.get('poll')!.toFixed(2)}× | ${ratio.get('hostile')!.toFixed(2)}× |`);
    console.log(ratios.at(-1));
  }
  return [...lines, '', '| form | poll: CPU 210 ÷ 10 | hostile: CPU 210 ÷ 10 |', '|---|---|---|', ...ratios];
}

const load = loadavg()[0]?.toFixed(1) ?? '?';
if (process.argv.includes('--workloads')) {
  workloadSection();
  process.exit(0);
}
const batch = requests();
const rows: string[] = [];
for (const [label, source] of [
  ['10', parsePolicySet(schema, examples())],
  ['200 (examples + 5 rules per target)', twoHundredRealistic()],
  ['200 (examples + generated rules)', twoHundredGenerated()],
] as const) {
  for (const [form, options] of FORMS) {
    const { p50, p99, p99Median, cpu } = measure(source, options, batch);
    const cells = [p50, p99, p99Median, cpu].map((x) => x.toFixed(1)).join(' | ');
    rows.push(`| ${label} | ${form} | ${cells} |`);
    console.log(rows.at(-1));
  }
}
const workloadRows = workloadSection();

const report = `## Policy evaluation (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus()[0]?.model ?? '?'} × ${cpus().length})

Command: \`npx tsx bench/policy.ts\` (load average ${load} at start: the machine is shared, so p99 is noisy) — per row, ${WARMUP} warm-up calls then ${ROUNDS} rounds of ${CALLS} sequential evaluations, cycling
through 256 generated requests (agents and humans, five actions, 39 targets, with and without a task). Time per
decision in µs, including building the Cedar entities and context from the request. p50 and CPU are the median
round's; p99 is given for the quietest round and the median round, because other processes on this shared machine
preempt the benchmark for milliseconds at a time. "mean CPU" is process CPU time (user + system) per decision,
garbage collection included.

- 10 policies: the example policies in \`policies/\` (none names a single target, so slicing alone changes nothing).
- 200 (examples + 5 rules per target): those 10 plus five rules for each of 38 targets, in the examples' style (read
  in a task, write with a change ticket, delete only for the owning team, humans, no /admin paths).
- 200 (examples + generated rules): those 10 plus 190 generated rules, five scoped to each of 38 targets, with up to
  three conditions each drawn from test/policy/fixtures/policy-gen.ts — between them they read every request field,
  including the \`datetime\` and \`ipaddr\` values, so pruning saves less.

| policies | form | p50 µs | p99 µs (quietest round) | p99 µs (median round) | mean CPU µs |
|---|---|---|---|---|---|
${rows.join('\n')}

### The gateway bench's policy sets on its two workloads

Issue #21's target "200 policies within 10 % of 10 on both workloads". The same run, in process: the bench's one
agent reading the bench target in its task, 9 rounds after a warm-up round, each round 10 000 sequential decisions
per set and workload in turn (so other processes' load falls on all alike), through \`evaluate\` with its decision
cache (warm, as a running gateway's is), the clock advancing as at 3 000 req/s.
**poll** asks for \`/items/42\` every time; **hostile** for \`/items/<n>\`, a new path each request (what Cedar sees of
the bench's \`/bench/items/<n>?q=<n>&page=<n mod 97>\`). 10: the example policies; 210: those and
bench/lib/policies.ts's 200 generated ones, of which 25 in the bench target's slice read \`context.request.path\`
leftmost (\`like "/admin-N/*"\`, \`like "/internal-N/*"\`). Median round's wall µs and process CPU µs per decision;
the ratio is the median over rounds of the two sets' CPU per decision in the same round. "lookup ns": one
\`sliceFor\` call on hostile paths, alone, quietest of 60 short rounds (the path-prefix trie walk is part of it).

| policies | form | poll µs | poll CPU µs | hostile µs | hostile CPU µs | lookup ns |
|---|---|---|---|---|---|---|
${workloadRows.join('\n')}
`;
writeFileSync(join(import.meta.dirname, 'RESULTS-policy.md'), report);
