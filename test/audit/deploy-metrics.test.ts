import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createMetrics } from '../../gateway/metrics.js';
import { LABEL_VALUES } from './label-values.js';
import { familiesOf, resolveSeries } from './metric-families.js';

const root = new URL('../../deploy/', import.meta.url);
/** Labels Prometheus adds at scrape time. */
const TARGET_LABELS = new Set(['instance', 'job']);
const SELECTOR = /\b(escrow_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?/g;
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g;
const GROUPING = /\b(?:by|without)\s*\(([^)]*)\)/g;

async function alertExpressions(): Promise<string[]> {
  const doc = parseYaml(await readFile(new URL('prometheus/alerts.yml', root), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  return doc.groups.flatMap((group) => group.rules.map((rule) => rule.expr));
}

interface Panel {
  readonly panels?: Panel[];
  readonly targets?: { readonly expr?: string }[];
}

async function dashboardExpressions(): Promise<string[]> {
  const doc = JSON.parse(await readFile(new URL('grafana/dashboard.json', root), 'utf8')) as {
    panels: Panel[];
    templating: { list: { definition?: string }[] };
  };
  const fromPanels = (panels: readonly Panel[]): string[] =>
    panels.flatMap((panel) => [
      ...(panel.targets ?? []).flatMap((target) => (target.expr ? [target.expr] : [])),
      ...fromPanels(panel.panels ?? []),
    ]);
  const fromVariables = doc.templating.list.flatMap((variable) => (variable.definition ? [variable.definition] : []));
  return [...fromPanels(doc.panels), ...fromVariables];
}

/** Every way `expr` refers to a metric, a label or a label value that Escrow does not expose. */
function problemsIn(expr: string): string[] {
  const families = familiesOf(createMetrics({ defaultMetrics: true }).registry);
  const problems: string[] = [];
  const labelsInExpr = new Set(TARGET_LABELS);
  for (const [, series, matchers] of expr.matchAll(SELECTOR)) {
    const resolved = resolveSeries(families, series as string);
    if (!resolved) {
      problems.push(`unknown metric ${series}`);
      continue;
    }
    for (const label of resolved.labels) labelsInExpr.add(label);
    for (const [, label, op, value] of (matchers ?? '').matchAll(MATCHER)) {
      if (!resolved.labels.has(label as string) && !TARGET_LABELS.has(label as string)) {
        problems.push(`${series} has no label ${label}`);
      }
      const allowed = LABEL_VALUES[label as string];
      if (op === '=' && allowed && !allowed.has(value as string)) problems.push(`${label}="${value}" never occurs`);
    }
  }
  for (const [, list] of expr.matchAll(GROUPING)) {
    for (const label of (list as string).split(',').map((name) => name.trim())) {
      if (label !== '' && !labelsInExpr.has(label)) problems.push(`grouping by ${label}, which no metric here has`);
    }
  }
  return problems;
}

describe('every metric that the alert rules and the dashboard use exists in createMetrics()', () => {
  it('alert rules reference only real metrics, labels and label values', async () => {
    const expressions = await alertExpressions();
    expect(expressions.length).toBeGreaterThanOrEqual(6);
    expect(expressions.flatMap(problemsIn)).toEqual([]);
  });

  it('dashboard panels and variables reference only real metrics, labels and label values', async () => {
    const expressions = await dashboardExpressions();
    expect(expressions.length).toBeGreaterThanOrEqual(15);
    expect(expressions.flatMap(problemsIn)).toEqual([]);
  });

  it('the checker itself catches a drifted name, label and value', () => {
    expect(problemsIn('rate(escrow_request_total[5m])')).toEqual(['unknown metric escrow_request_total']);
    expect(problemsIn('escrow_requests_total{verdict="deny"}')).toEqual(['escrow_requests_total has no label verdict']);
    expect(problemsIn('escrow_requests_total{decision="denied"}')).toEqual(['decision="denied" never occurs']);
    expect(problemsIn('sum by (le) (rate(escrow_leases_issued_total[5m]))')).toEqual([
      'grouping by le, which no metric here has',
    ]);
  });

  it('Prometheus scrapes escrow:9090 and loads the alert rules', async () => {
    const doc = parseYaml(await readFile(new URL('prometheus/prometheus.yml', root), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const escrow = doc.scrape_configs.find((config) => config.job_name === 'escrow');
    expect(escrow?.static_configs[0]?.targets).toEqual(['escrow:9090']);
    expect(doc.rule_files).toContain('/etc/prometheus/alerts.yml');
  });
});
