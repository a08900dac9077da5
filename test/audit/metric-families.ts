import type { Registry } from 'prom-client';

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly labelNames: readonly string[];
}

/** Every metric family a registry exposes, with its label names (prom-client keeps them on the metric). */
export function familiesOf(registry: Registry): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const metric of registry.getMetricsAsArray()) {
    const labelNames = (metric as unknown as { labelNames?: unknown }).labelNames;
    families.set(metric.name, {
      name: metric.name,
      type: String(metric.type),
      labelNames: Array.isArray(labelNames) ? labelNames.map(String) : [],
    });
  }
  return families;
}

const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

/** The family a series name belongs to (`x_bucket` → histogram `x`), and the labels that series may carry. */
export function resolveSeries(
  families: ReadonlyMap<string, Family>,
  series: string,
): { readonly family: Family; readonly labels: ReadonlySet<string> } | undefined {
  const exact = families.get(series);
  if (exact && !SUFFIXES[exact.type]) return { family: exact, labels: new Set(exact.labelNames) };
  for (const family of families.values()) {
    for (const suffix of SUFFIXES[family.type] ?? []) {
      if (series !== family.name + suffix) continue;
      const extra = suffix === '_bucket' ? ['le'] : [];
      return { family, labels: new Set([...family.labelNames, ...extra]) };
    }
  }
  if (exact) return { family: exact, labels: new Set([...exact.labelNames, 'quantile']) };
  return undefined;
}
