import { RELOAD_RESULTS } from '../../gateway/metric-labels.js';

/**
 * The bounded sets that Escrow's metric label values come from. A label value outside its set (a task id,
 * a workload id, a token) fails the tests. `target` values come from config; tests use these names.
 */
export const TEST_TARGETS = ['echo', 'tickets', 'github'] as const;

export const LABEL_VALUES: Readonly<Record<string, ReadonlySet<string>>> = {
  target: new Set(TEST_TARGETS),
  decision: new Set(['allow', 'deny']),
  code_class: new Set(['1xx', '2xx', '3xx', '4xx', '5xx']),
  phase: new Set(['gateway', 'upstream']),
  result: new Set(['ok', 'rejected', ...RELOAD_RESULTS]),
  sink: new Set(['stdout', 'stderr', 'file', 'redis']),
  kind: new Set(['timeout', 'connect', 'aborted', 'reset', 'protocol']),
  adapter: new Set([
    'header',
    'basic',
    'query',
    'oauth2-client-credentials',
    'jwt-bearer',
    'rabbitmq',
    'hmac',
    'module',
  ]),
};

/** Labels whose values are stable code words from a union in the code (reasons, limits). */
export const CODE_WORD_LABELS = new Set(['reason', 'limit']);
const CODE_WORD = /^[a-z][a-z0-9_]{0,39}$/;

/** Why a label value is not allowed, or undefined when it is. */
export function labelValueProblem(label: string, value: string, buckets: ReadonlySet<string>): string | undefined {
  if (label === 'le') return buckets.has(value) ? undefined : `le="${value}" is not a configured bucket`;
  const allowed = LABEL_VALUES[label];
  if (allowed) return allowed.has(value) ? undefined : `${label}="${value}" is outside its bounded set`;
  if (CODE_WORD_LABELS.has(label)) return CODE_WORD.test(value) ? undefined : `${label}="${value}" is not a code word`;
  return `label ${label} has no bounded set declared in test/audit/label-values.ts`;
}
