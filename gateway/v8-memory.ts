/**
 * How an Escrow process keeps its resident memory bounded without node flags a user must know (docs/performance.md,
 * section "Memory"). The CLI imports this module before anything else, so the flags are set before cedar-wasm is
 * compiled: V8 reads `--liftoff-only` when it compiles a wasm module, the heap growth factor at every full GC.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** V8 flags set at start, each left alone when node was given that flag (or its negation) itself. */
export const MEMORY_FLAGS: readonly string[] = [
  // cedar-wasm's 4.3 MB module stays on V8's baseline wasm compiler. TurboFan's compile of it leaves ≈ 60 MB of malloc
  // arenas behind for good; the price is ≈ +35–55 µs per Cedar evaluation, which the exact decision cache mostly spares.
  '--liftoff-only',
  // Old space may grow to 1.5× what survived the last full GC before the next one, instead of up to 4× at high
  // allocation rates (measured: ≈ 160 MB of old space for ≈ 50 MB live).
  '--heap-growing-percent=50',
];

function flagName(flag: string): string {
  return flag
    .replace(/=.*$/, '')
    .replace(/^--(no-)?/, '')
    .replaceAll('_', '-');
}

/** The names of the V8/node flags this process was started with (command line and NODE_OPTIONS). */
function givenFlagNames(): Set<string> {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return new Set(given.filter((f) => f.startsWith('--')).map(flagName));
}

/** Set MEMORY_FLAGS that node was not given. Returns the flags set. */
export function applyMemoryFlags(): string[] {
  const given = givenFlagNames();
  const applied = MEMORY_FLAGS.filter((flag) => !given.has(flagName(flag)));
  for (const flag of applied) setFlagsFromString(flag);
  return applied;
}

/**
 * Keep V8's young generation at most `maxBytes` (both semi-spaces; V8's own default grows it to 32 MB, which a busy
 * Escrow reaches within seconds). `--max-semi-space-size` is read only when the process starts, but the growth factor
 * is read at every scavenge: growth starts switched off (module loading and start-up are synchronous, nothing could
 * switch it off in time), and after each GC it is switched on below the cap and off at it (V8 shrinks the space when
 * allocation slows). Does nothing when node was given `--max-semi-space-size` or `--semi-space-growth-factor`.
 * Returns a stop function, which leaves growth on.
 */
export function capYoungGeneration(maxBytes = 8 * 2 ** 20): () => void {
  const given = givenFlagNames();
  if (given.has('max-semi-space-size') || given.has('semi-space-growth-factor')) return () => {};
  let growing = true;
  const grow = (on: boolean) => {
    if (on === growing) return;
    growing = on;
    setFlagsFromString(on ? '--semi-space-growth-factor=2' : '--semi-space-growth-factor=1');
  };
  grow(false);
  const observer = new PerformanceObserver(() => {
    const size = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
    grow(size < maxBytes);
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    observer.disconnect();
    grow(true);
  };
}
