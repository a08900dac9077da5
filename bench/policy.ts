/**
 * Cedar authorization cost per request: the plain form (one preparsed set, whole request) against the optimised one
 * (one preparsed set per target, each sent only what its policies read), at 10 and 200 policies.
 * Run: npx tsx bench/policy.ts   (writes bench/RESULTS-policy.md)
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { type CompileOptions, compilePolicySet } from '../gateway/policy/compile.js';
import { evaluate } from '../gateway/policy/decide.js';
import { type PolicySetSource, parsePolicySet } from '../gateway/policy/load.js';
import type { AuthorizationRequest } from '../gateway/policy/types.js';
import { policySpecArb, policyText, requestArb } from '../test/policy/fixtures/policy-gen.js';

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

const load = loadavg()[0]?.toFixed(1) ?? '?';
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
`;
writeFileSync(join(import.meta.dirname, 'RESULTS-policy.md'), report);
