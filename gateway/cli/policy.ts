import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Verdict } from '../policy/decide.js';
import { describeVerdict, explain, runPolicyTests, validatePolicies } from '../policy/tooling.js';
import { printer, UsageError } from './common.js';

export const policyHelp = `escrow policy validate [DIR] [--json]
escrow policy test [DIR] [--cases DIR] [--json]
escrow policy explain --request FILE|- [DIR] [--json]

validate: strict validation of DIR's policies (default ./policies) against DIR/schema.cedarschema.
test:     run the YAML test cases in --cases (default DIR/tests): principal, action, target, context →
          expected decision and determining policy ids. Exit 1 when any case fails.
explain:  decide one request (YAML, in the test-case form) and show the decision ("allow", "deny" or "allow,
          pending approval"), the determining policies, the policies that ask for a person, and any evaluation
          errors (an error always denies).`;

export async function policyCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { cases: { type: 'string' }, request: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const dir = resolve(positionals[0] ?? 'policies');
  const out = printer(values.json);
  switch (sub) {
    case 'validate': {
      const report = await validatePolicies(dir);
      out(
        report,
        report.ok
          ? `OK: ${report.count} policies valid (set ${report.hash.slice(0, 12)})`
          : `INVALID:\n  ${report.errors.join('\n  ')}`,
      );
      return report.ok ? 0 : 2;
    }
    case 'test': {
      const report = await runPolicyTests(dir, resolve(values.cases ?? join(dir, 'tests')));
      const lines = report.results.map((r) =>
        r.ok
          ? `  ok    ${r.name}${r.actual.approval ? ' (allow, pending approval)' : ''}`
          : `  FAIL  ${r.name}\n        expected ${JSON.stringify(r.expected)}, got ${describeVerdict(r.actual)} ${JSON.stringify(r.actual.policies)}${r.actual.errors.length ? ` errors ${JSON.stringify(r.actual.errors)}` : ''}`,
      );
      out(report, `${lines.join('\n')}\n${report.passed} passed, ${report.failed} failed`);
      return report.failed === 0 ? 0 : 1;
    }
    case 'explain': {
      if (!values.request) throw new UsageError('explain needs --request FILE (or - for standard input)');
      const text = readFileSync(values.request === '-' ? 0 : values.request, 'utf8');
      const verdict = await explain(dir, text);
      out(verdict, explainText(verdict));
      return 0;
    }
    default:
      throw new UsageError('usage: escrow policy validate|test|explain');
  }
}

function explainText(verdict: Verdict): string {
  const lines = [
    `decision: ${describeVerdict(verdict)}`,
    `determining policies: ${verdict.policies.join(', ') || '(none: default deny)'}`,
  ];
  const need = verdict.approval;
  if (need) {
    const window = need.windowSeconds === undefined ? 'the configured window' : `${need.windowSeconds} s`;
    lines.push(
      `approval required by: ${need.policies.join(', ')} (a grant covers ${need.uses} request(s) within ${window})`,
    );
  }
  lines.push(`errors: ${verdict.errors.join('; ') || '(none)'}`);
  return lines.join('\n');
}
