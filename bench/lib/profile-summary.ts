import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  /** When sampling began, in µs of the system's monotonic clock (V8's TimeTicks: CLOCK_MONOTONIC on Linux). */
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/**
 * A stretch of the monotonic clock, in µs (`process.hrtime.bigint() / 1000n` in any process of the machine): only
 * samples taken in it count, so that starting the process, loading modules and shutting down stay out of a
 * profile of the load.
 */
export interface SampleWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

/** Calls `each(sample index)` for the samples taken inside `window` (all of them without one). */
function forSamples(profile: CpuProfile, window: SampleWindow | undefined, each: (i: number) => void): void {
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window === undefined || (at >= window.fromUs && at <= window.toUs)) each(i);
  }
}

/** A `.cpuprofile` file, read once for every summary below. */
export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

/** How many of the profile's samples fall inside `window` (a check that the two clocks agree). */
export function samplesIn(
  profile: CpuProfile,
  window: SampleWindow,
): { readonly inside: number; readonly all: number } {
  let inside = 0;
  forSamples(profile, window, () => inside++);
  return { inside, all: profile.samples.length };
}

/** Where a frame lives: a package, a file of Escrow, or a Node/V8 internal. */
function place(url: string): string {
  if (url === '') return '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/(.+)$/.exec(url);
  if (own) return own[1]!;
  if (url.startsWith('node:')) return url;
  return url;
}

function key(node: ProfileNode): string {
  const f = node.callFrame;
  return `${f.functionName || '(anonymous)'} ${place(f.url)}:${f.lineNumber + 1}`;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly selfByFunction: [string, number][];
  readonly selfByPlace: [string, number][];
  readonly inclusiveByFunction: [string, number][];
}

/** Self time per function and per package/file, and inclusive time per function, from a .cpuprofile. */
export function summarizeProfile(profile: CpuProfile, top = 40, window?: SampleWindow): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const selfPlace = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  forSamples(profile, window, (i) => {
    const id = profile.samples[i]!;
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id);
    if (!node) return;
    total += dt;
    self.set(key(node), (self.get(key(node)) ?? 0) + dt);
    const p = place(node.callFrame.url) || node.callFrame.functionName;
    selfPlace.set(p, (selfPlace.get(p) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  });
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: total,
    selfByFunction: sorted(self),
    selfByPlace: sorted(selfPlace),
    inclusiveByFunction: sorted(inclusive),
  };
}

/**
 * The stage a frame's code belongs to (pipeline stage 2–9, or the plumbing around them), by the file it is in.
 * undefined for code outside Escrow (Node, V8, packages): such a frame takes the stage of the nearest Escrow frame
 * below it on the stack (its caller).
 */
function stageOf(url: string): string | undefined {
  const own = /\/dist\/gateway\/(.+)$/.exec(url)?.[1];
  if (own === undefined) {
    if (/node_modules\/prom-client\//.test(url)) return 'metrics';
    return undefined;
  }
  if (own.startsWith('audit/') || own === 'store/redis-audit.js' || own === 'pipeline/record.js') return 'audit';
  // The scanning and stage 8's header scrub: the answer's writes to the agent's socket (pipeline/lib/scrub-sink.js) are plumbing.
  if (own.startsWith('scrub/') || own === 'pipeline/scrub.js') return 'scrub';
  if (own.startsWith('policy/') || own === 'pipeline/authorize.js' || own === 'pipeline/lib/decide.js') return 'policy';
  if (own.startsWith('identity/') || own === 'pipeline/identify.js') return 'identify';
  if (own.startsWith('tasks/') || own === 'pipeline/task.js') return 'task';
  if (own.startsWith('leases/') || own === 'pipeline/lease.js' || own === 'pipeline/inject.js') return 'lease';
  if (own === 'metrics.js' || own === 'metric-labels.js') return 'metrics';
  return 'plumbing';
}

export interface StageShare {
  readonly stage: string;
  /** Share of the samples in which the process was busy (idle excluded). */
  readonly share: number;
}

/**
 * Busy samples by stage: a sample goes to the stage of the innermost Escrow frame on its stack (a package or Node
 * frame called by the scrubber counts for scrub). Samples with no Escrow frame at all are I/O callbacks and the
 * runtime: `gc` for the collector, `outside Escrow's frames` for the rest (undici's parser, Node's HTTP server,
 * socket writes, ioredis' replies).
 */
export function stagesOfProfile(
  profile: CpuProfile,
  window?: SampleWindow,
): { readonly stages: StageShare[]; readonly busyMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const stageOfNode = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let stage: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined && stage === undefined; cur = parent.get(cur)) {
      stage = stageOf(byId.get(cur)!.callFrame.url);
    }
    const name = byId.get(id)!.callFrame.functionName;
    const result = stage ?? (name === '(garbage collector)' ? 'gc' : "outside Escrow's frames");
    memo.set(id, result);
    return result;
  };
  const time = new Map<string, number>();
  let busy = 0;
  forSamples(profile, window, (i) => {
    const id = profile.samples[i]!;
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') return;
    const dt = profile.timeDeltas[i] ?? 0;
    busy += dt;
    const stage = stageOfNode(id);
    time.set(stage, (time.get(stage) ?? 0) + dt);
  });
  const stages = [...time.entries()].map(([stage, t]) => ({ stage, share: t / busy }));
  return { stages: stages.sort((a, b) => b.share - a.share), busyMs: busy / 1000 };
}
