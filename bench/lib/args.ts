import { parseArgs } from 'node:util';
import type { LoadGenerator } from './measure.js';

export interface BenchArgs {
  readonly quick: boolean;
  /** Render the report again from the saved run (results.json beside it) instead of measuring. */
  readonly render: boolean;
  readonly soakMemory: boolean;
  /** Only the scrubber's cost (bench/scrub.ts), which a full run also measures first. */
  readonly scrub: boolean;
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly connections: number;
  readonly loadgen: LoadGenerator;
  readonly nginx: boolean;
  readonly build: boolean;
  /** After the contest, the ablation, a profile by stage and the audit bench (bench/RESULTS-{ablation,profile,audit}.md). */
  readonly breakdown: boolean;
  readonly out: string;
  readonly soakRequests: number;
  readonly soakTasks: number;
  /** Extra node flags for every Escrow process (e.g. `--liftoff-only --max-semi-space-size=2`). */
  readonly escrowNodeArgs: readonly string[];
  readonly argv: readonly string[];
}

export const USAGE = `npm run bench -- [options]
  --quick              one short round (< 2 minutes), writes bench/RESULTS-quick.md
  --render             render the results again from the saved run (bench/RESULTS.json), merging RESULTS-*.md
  --soak-memory        1 000 000 requests over 10 000 tasks, RSS sampled; writes bench/RESULTS-soak.md
  --scrub              only the scrubber, old against new, 1 to 10 000 leases (~1 min); writes bench/RESULTS-scrub.md
  --rounds N           rounds of A B C … interleaving (default 3)
  --duration S         seconds per run (default 10)
  --connections N      concurrent keep-alive connections (default 50)
  --loadgen NAME       autocannon (default) | builtin   (fixed-rate runs always use the builtin generator)
  --no-nginx           skip nginx even when installed
  --no-build           do not run npm run build first
  --no-breakdown       skip what runs after the contest (~8 min): the ablation, a profile by stage, the audit bench
  --out FILE           where to write the results
  --escrow-node-args=S node flags for the Escrow processes, e.g. "--escrow-node-args=--liftoff-only --max-semi-space-size=2"`;

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      render: { type: 'boolean', default: false },
      'soak-memory': { type: 'boolean', default: false },
      scrub: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string', default: '50' },
      loadgen: { type: 'string', default: 'autocannon' },
      'no-nginx': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      'no-breakdown': { type: 'boolean', default: false },
      out: { type: 'string' },
      'soak-requests': { type: 'string', default: '1000000' },
      'soak-tasks': { type: 'string', default: '10000' },
      'escrow-node-args': { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.loadgen !== 'autocannon' && values.loadgen !== 'builtin')
    throw new Error('--loadgen: autocannon | builtin');
  const quick = values.quick;
  const soakMemory = values['soak-memory'];
  return {
    quick,
    render: values.render,
    soakMemory,
    scrub: values.scrub,
    rounds: Number(values.rounds ?? (quick ? 1 : 3)),
    durationMs: Number(values.duration ?? (quick ? 3 : 10)) * 1000,
    warmupMs: quick ? 1000 : 3000,
    connections: Number(values.connections),
    loadgen: values.loadgen,
    nginx: !values['no-nginx'],
    build: !values['no-build'],
    breakdown: !values['no-breakdown'] && !quick,
    out: values.out ?? (soakMemory ? 'bench/RESULTS-soak.md' : quick ? 'bench/RESULTS-quick.md' : 'bench/RESULTS.md'),
    soakRequests: Number(values['soak-requests']),
    soakTasks: Number(values['soak-tasks']),
    escrowNodeArgs: values['escrow-node-args'].split(/\s+/).filter(Boolean),
    argv,
  };
}
