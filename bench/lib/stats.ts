import type { Sample } from './measure.js';

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function pick(
  samples: readonly Sample[],
  filter: Partial<Pick<Sample, 'workload' | 'contestant' | 'mode' | 'round'>>,
) {
  return samples.filter(
    (s) =>
      (filter.workload === undefined || s.workload === filter.workload) &&
      (filter.contestant === undefined || s.contestant === filter.contestant) &&
      (filter.mode === undefined || s.mode === filter.mode) &&
      (filter.round === undefined || s.round === filter.round),
  );
}

/** Per round: `combine(a's value, b's value)`, both from the same round. */
function perRound(
  samples: readonly Sample[],
  workload: Sample['workload'],
  mode: Sample['mode'],
  a: string,
  b: string,
  value: (s: Sample) => number,
  combine: (va: number, vb: number) => number,
): number[] {
  const out: number[] = [];
  for (const sa of pick(samples, { workload, mode, contestant: a })) {
    const sb = pick(samples, { workload, mode, contestant: b, round: sa.round })[0];
    if (sb) out.push(combine(value(sa), value(sb)));
  }
  return out;
}

/** Per round: `a`'s value over `b`'s, both from the same round. */
export function roundRatios(...args: Parameters<typeof roundDifferences>): number[] {
  return perRound(...args, (va, vb) => va / vb);
}

/** Per round: `a`'s value minus `b`'s. */
export function roundDifferences(
  samples: readonly Sample[],
  workload: Sample['workload'],
  mode: Sample['mode'],
  a: string,
  b: string,
  value: (s: Sample) => number,
): number[] {
  return perRound(samples, workload, mode, a, b, value, (va, vb) => va - vb);
}
