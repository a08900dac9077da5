/**
 * The gateway bench's two workloads (bench/lib/measure.ts) against its two policy sets (policies/, and policies/ plus
 * bench/lib/policies.ts's generated 200), in process: µs per decision through `evaluate` and its decision cache, with
 * and without path-prefix slicing. Used by bench/policy.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledPolicySet, CompileOptions } from '../../gateway/policy/compile.js';
import { evaluate } from '../../gateway/policy/decide.js';
import { type PolicySetSource, parsePolicySet } from '../../gateway/policy/load.js';
import type { AuthorizationRequest } from '../../gateway/policy/types.js';
import { generatedPolicies } from './policies.js';

const CALLS = 10_000;
const ROUNDS = 9;
/** The gateway bench's rate: the simulated clock advances by this many requests a second. */
const RATE = 3_000;
const T0 = Date.parse('2026-12-02T10:00:00Z');

export const WORKLOADS = {
  /** What Cedar sees of `/bench/items/42?fields=id,name` (the target's name is not part of the path). */
  poll: (_i: number) => ({ method: 'GET', path: '/items/42', queryKeys: ['fields'] }),
  /** `/bench/items/<n>?q=<n>&page=<n mod 97>`: every path new. */
  hostile: (i: number) => ({ method: 'GET', path: `/items/${i}`, queryKeys: ['q', 'page'] }),
} as const;

export type Workload = keyof typeof WORKLOADS;

/** The bench's one agent reading the bench target inside its task, `i` requests into the run. */
export function benchRequest(workload: Workload, i: number): AuthorizationRequest {
  const now = T0 + (i * 1000) / RATE;
  return {
    principal: BENCH_AGENT,
    action: 'read',
    target: BENCH_TARGET,
    request: WORKLOADS[workload](i),
    task: { ...BENCH_TASK, ageSeconds: (now - T0) / 1000 + 5 },
    clientIp: '127.0.0.1',
    now,
  };
}

const BENCH_AGENT: AuthorizationRequest['principal'] = {
  type: 'Agent',
  id: 'spiffe://bench.example/agent/bench-0',
  issuer: 'https://bench.escrow.local',
  authMethod: 'jwt',
  trustDomain: 'bench.example',
  claims: {},
  issuedAt: T0 / 1000 - 60,
};
const BENCH_TARGET = { name: 'bench', attributes: { sensitivity: 'low', environment: 'dev' } };
const BENCH_TASK = { id: 'task_bench', intent: 'bench: a/b', depth: 0, targets: ['bench'] };

/** The 10 example policies alone, and with the bench's 200 generated ones. */
export function benchPolicySets(policiesDir: string): Array<[string, PolicySetSource]> {
  const schema = readFileSync(join(policiesDir, 'schema.cedarschema'), 'utf8');
  const files = readdirSync(policiesDir).filter((f) => f.endsWith('.cedar'));
  const examples = new Map(files.map((f) => [f, readFileSync(join(policiesDir, f), 'utf8')]));
  return [
    ['10', parsePolicySet(schema, examples)],
    [
      '210 (10 + 200 generated)',
      parsePolicySet(schema, new Map([...examples, ...Object.entries(generatedPolicies())])),
    ],
  ];
}

export interface WorkloadCost {
  /** Median round's wall µs and process CPU µs per decision, by set label and workload. */
  readonly us: Map<string, { wall: number; cpu: number }>;
  /** Median over rounds of the last set's CPU per decision ÷ the first set's, by workload. */
  readonly ratio: Map<Workload, number>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * ROUNDS rounds after a warm-up round (which also fills the decision cache, as a running gateway's is); in each
 * round every set runs CALLS decisions of each workload in turn, so that load from other processes on this shared
 * machine falls on all of them alike. Each (set, workload) keeps its own request counter: a hostile path is never
 * asked twice of one set.
 */
export function measureWorkloads(sets: ReadonlyArray<[string, CompiledPolicySet]>): WorkloadCost {
  const counters = new Map<string, number>();
  const round = (label: string, set: CompiledPolicySet, workload: Workload) => {
    let i = counters.get(`${label}\0${workload}`) ?? 0;
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (let n = 0; n < CALLS; n++, i++) {
      const request = benchRequest(workload, i);
      evaluate(set, request, request.now);
    }
    const used = process.cpuUsage(cpu);
    counters.set(`${label}\0${workload}`, i);
    return { wall: Number(process.hrtime.bigint() - start) / 1000 / CALLS, cpu: (used.user + used.system) / CALLS };
  };
  const samples = new Map<string, { wall: number; cpu: number }[]>();
  for (let r = 0; r <= ROUNDS; r++) {
    for (const workload of Object.keys(WORKLOADS) as Workload[]) {
      for (const [label, set] of sets) {
        const sample = round(label, set, workload);
        if (r === 0) continue;
        const key = `${label}\0${workload}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
      }
    }
  }
  const us = new Map<string, { wall: number; cpu: number }>();
  for (const [key, xs] of samples) {
    us.set(key, { wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) });
  }
  const ratio = new Map<Workload, number>();
  const [first, last] = [sets[0]![0], sets.at(-1)![0]];
  for (const workload of Object.keys(WORKLOADS) as Workload[]) {
    const a = samples.get(`${first}\0${workload}`)!;
    const b = samples.get(`${last}\0${workload}`)!;
    ratio.set(workload, median(a.map((x, r) => b[r]!.cpu / x.cpu)));
  }
  return { us, ratio };
}

/**
 * ns per `sliceFor` call on hostile paths, alone (without building or deciding the call): the quietest of 60 short
 * rounds, since on a shared machine any longer round is likely to be preempted.
 */
export function measureLookup(set: CompiledPolicySet): number {
  const paths = Array.from({ length: 1024 }, (_, i) => WORKLOADS.hostile(i).path);
  const calls = 20_000;
  let sink = 0;
  const rounds = Array.from({ length: 61 }, () => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink += set.sliceFor('bench', 'read', 'Agent', paths[i & 1023]!).setId.length;
    return Number(process.hrtime.bigint() - start) / calls;
  }).slice(1);
  return sink > 0 ? Math.min(...rounds) : Number.NaN;
}

export const WORKLOAD_FORMS: Array<[string, CompileOptions]> = [
  ['before: sliced, pruned, no path prefixes', { pathPrefixes: false }],
  ['after: sliced by path prefix too', {}],
];
