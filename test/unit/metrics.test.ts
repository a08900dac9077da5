import { describe, expect, it } from 'vitest';
import { IDENTITY_REASONS } from '../../gateway/metric-labels.js';
import { createMetrics } from '../../gateway/metrics.js';
import { labelValueProblem, TEST_TARGETS } from '../audit/label-values.js';
import { parsePrometheusText } from '../audit/prom-text.js';

/** Drive every metric the way the pipeline does, with the label values it uses. */
function exercise(metrics: ReturnType<typeof createMetrics>): void {
  for (const target of TEST_TARGETS) {
    metrics.requestsTotal.inc({ target, decision: 'allow', code_class: '2xx' });
    metrics.requestsTotal.inc({ target, decision: 'deny', code_class: '4xx' });
    metrics.requestDuration.observe({ target, phase: 'gateway' }, 0.0007);
    metrics.requestDuration.observe({ target, phase: 'upstream' }, 0.031);
    metrics.leasesIssued.inc({ target, adapter: 'header' });
    metrics.upstreamErrors.inc({ target, kind: 'timeout' });
  }
  metrics.policyEvaluation.observe(0.00012);
  metrics.identityFailures.inc({ reason: 'token_expired' });
  metrics.leasesRevoked.inc({ reason: 'task_closed' });
  metrics.leasesActive.set(3);
  metrics.storeErrors.inc();
  metrics.policyReloads.inc({ result: 'ok' });
  metrics.policyReloads.inc({ result: 'rejected' });
  metrics.configReloads.inc({ result: 'invalid_yaml' });
  metrics.auditSinkErrors.inc({ sink: 'redis' });
  metrics.limitsExceeded.inc({ limit: 'body_size' });
}

const BUCKET_VALUES = new Set(
  [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
    2.5, 5, 10,
  ]
    .map(String)
    .concat('+Inf'),
);

describe('the metrics endpoint is valid Prometheus text with label values from bounded sets', () => {
  it('parses strictly, and every label value is in its set', async () => {
    const metrics = createMetrics();
    exercise(metrics);
    const families = parsePrometheusText(await metrics.registry.metrics());
    expect(families.size).toBeGreaterThanOrEqual(12);
    const problems: string[] = [];
    for (const family of families.values()) {
      expect(family.name.startsWith('escrow_')).toBe(true);
      expect(family.help).not.toBe('');
      for (const sample of family.samples) {
        for (const [label, value] of Object.entries(sample.labels)) {
          const problem = labelValueProblem(label, value, BUCKET_VALUES);
          if (problem) problems.push(`${sample.name}: ${problem}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('parses with the process and Node.js default metrics on', async () => {
    const metrics = createMetrics({ defaultMetrics: true });
    exercise(metrics);
    const families = parsePrometheusText(await metrics.registry.metrics());
    expect(families.has('escrow_process_resident_memory_bytes')).toBe(true);
  });

  it('starts every series whose labels are known at 0, so that the first failure is an increase', async () => {
    const metrics = createMetrics();
    metrics.initializeSeries({
      targets: TEST_TARGETS.map((name) => ({ name, adapter: 'header' })),
      auditSinks: ['stdout', 'redis'],
    });
    const families = parsePrometheusText(await metrics.registry.metrics());
    const zeros = (name: string) =>
      (families.get(name)?.samples ?? []).filter((sample) => sample.value === 0).map((sample) => sample.labels);
    expect(zeros('escrow_audit_sink_errors_total')).toEqual([{ sink: 'stdout' }, { sink: 'redis' }]);
    expect(zeros('escrow_audit_events_dropped_total')).toHaveLength(2);
    expect(zeros('escrow_identity_failures_total')).toHaveLength(IDENTITY_REASONS.length);
    expect(zeros('escrow_leases_revoked_total')).toContainEqual({ reason: 'task_closed' });
    expect(zeros('escrow_limits_exceeded_total')).toContainEqual({ limit: 'body_size' });
    expect(zeros('escrow_policy_reloads_total')).toEqual([{ result: 'ok' }, { result: 'rejected' }]);
    expect(zeros('escrow_upstream_errors_total')).toHaveLength(TEST_TARGETS.length * 5);
    expect(zeros('escrow_upstream_errors_total')).toContainEqual({ target: 'echo', kind: 'connect' });
    expect(zeros('escrow_leases_issued_total')).toContainEqual({ target: 'github', adapter: 'header' });
    expect(zeros('escrow_requests_total')).toContainEqual({ target: 'echo', decision: 'deny', code_class: '4xx' });
    for (const family of families.values()) {
      for (const sample of family.samples) {
        for (const [label, value] of Object.entries(sample.labels)) {
          expect(labelValueProblem(label, value, BUCKET_VALUES), `${sample.name}`).toBeUndefined();
        }
      }
    }
  });

  it('the parser rejects what Prometheus would reject', () => {
    expect(() => parsePrometheusText('escrow_x 1\n')).toThrow(/before its TYPE/);
    expect(() => parsePrometheusText('# TYPE escrow_x counter\nescrow_x{a="b\\q"} 1\n')).toThrow(/bad labels/);
    expect(() => parsePrometheusText('# TYPE escrow_x counter\nescrow_x one\n')).toThrow(/bad value/);
    expect(() => parsePrometheusText('# TYPE escrow_x gauge\nescrow_x{a="1",a="2"} 1\n')).toThrow(/duplicate label/);
    expect(labelValueProblem('target', 'tsk_8f2a9c', new Set())).toMatch(/outside its bounded set/);
  });
});
