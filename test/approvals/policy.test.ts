import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { compilePolicySet } from '../../gateway/policy/compile.js';
import { evaluate } from '../../gateway/policy/decide.js';
import { parsePolicySet } from '../../gateway/policy/load.js';
import { runPolicyTests, validatePolicies } from '../../gateway/policy/tooling.js';
import { validatePolicySet } from '../../gateway/policy/validate.js';
import { agentRequest, makePolicyDir, removeDir, SCHEMA_PATH } from '../policy/fixtures/dirs.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await removeDir(d);
});

const PERMIT_WRITES = '@id("writes")\npermit (principal, action == Escrow::Action::"write", resource);\n';
const ASKING_PERMIT =
  '@id("asking-permit")\n@approval("required")\n@approvalUses("3")\n@approvalWindow("15m")\npermit (principal, action == Escrow::Action::"write", resource) when { resource.environment == "dev" };\n';
const SOFT_FORBID =
  '@id("soft-forbid")\n@approval("required")\n@approvalWindow("2m")\nforbid (principal is Escrow::Agent, action, resource) when { context.request.path like "/danger*" };\n';
const HARD_FORBID =
  '@id("hard-forbid")\nforbid (principal, action, resource) when { context.request.path like "/danger/never*" };\n';
const ERRORING =
  '@id("erroring")\nforbid (principal, action, resource) when { context has task && context.task.ageSeconds * 4611686018427387904 > 0 };\n';

async function decide(files: Record<string, string>, path = '/v1/items', action: 'write' | 'approve' = 'write') {
  const schema = await readFile(SCHEMA_PATH, 'utf8');
  const source = parsePolicySet(schema, new Map(Object.entries(files)));
  expect(validatePolicySet(source)).toEqual([]);
  const verdicts = [{ slice: false, prune: false }, {}].map((form) => {
    const set = compilePolicySet(source, form);
    try {
      const request = agentRequest({ request: { method: 'POST', path, queryKeys: [] } });
      return evaluate(
        set,
        action === 'approve'
          ? {
              ...request,
              principal: { ...request.principal, type: 'Human' },
              action,
              approval: {
                id: 'apr_x',
                kind: 'request',
                action: 'write',
                requester: { type: 'Agent', id: 'a', issuer: 'i' },
              },
            }
          : request,
        request.now,
      );
    } finally {
      set.release();
    }
  });
  // The plain and the sliced, pruned forms decide alike, approvals included.
  expect(verdicts[1]).toEqual(verdicts[0]);
  return verdicts[0]!;
}

describe('policy decides what waits for a person', () => {
  it('an @approval permit makes its allow wait, with the smallest count and window of the permits that ask', async () => {
    const verdict = await decide({ 'a.cedar': ASKING_PERMIT + PERMIT_WRITES });
    expect(verdict).toMatchObject({
      decision: 'allow',
      approval: { policies: ['asking-permit'], uses: 3, windowSeconds: 900 },
    });
    expect([...verdict.policies].sort()).toEqual(['asking-permit', 'writes']);
  });

  it('an @approval forbid gives way once a person approves, and only where a permit allows', async () => {
    expect(await decide({ 'a.cedar': SOFT_FORBID + PERMIT_WRITES }, '/danger/zone')).toMatchObject({
      decision: 'allow',
      policies: ['writes'],
      approval: { policies: ['soft-forbid'], uses: 1, windowSeconds: 120 },
    });
    // No permit: it stays a deny, named by the forbid (an approval never lets through what no permit allows).
    expect(await decide({ 'a.cedar': SOFT_FORBID }, '/danger/zone')).toMatchObject({
      decision: 'deny',
      policies: ['soft-forbid'],
    });
    // Outside the forbid: a plain allow.
    const plain = await decide({ 'a.cedar': SOFT_FORBID + PERMIT_WRITES });
    expect(plain.decision).toBe('allow');
    expect(plain.approval).toBeUndefined();
  });

  it('a plain forbid beside an @approval forbid is a deny no person can lift', async () => {
    const verdict = await decide({ 'a.cedar': SOFT_FORBID + HARD_FORBID + PERMIT_WRITES }, '/danger/never/x');
    expect(verdict.decision).toBe('deny');
    expect([...verdict.policies].sort()).toEqual(['hard-forbid', 'soft-forbid']);
    expect(verdict.approval).toBeUndefined();
  });

  it('an erroring policy still denies, whatever asks for a person', async () => {
    const verdict = await decide({ 'a.cedar': SOFT_FORBID + ERRORING + PERMIT_WRITES }, '/danger/zone');
    expect(verdict.decision).toBe('deny');
    expect(verdict.errors.length).toBeGreaterThan(0);
    expect(verdict.approval).toBeUndefined();
  });

  it('a person’s approve decision never waits for another person: there an @approval forbid is a plain forbid', async () => {
    const permitApprove =
      '@id("approvers")\npermit (principal is Escrow::Human, action == Escrow::Action::"approve", resource);\n';
    const softOnApprove =
      '@id("soft-all")\n@approval("required")\nforbid (principal, action, resource) when { context.request.path like "/danger*" };\n';
    const verdict = await decide({ 'a.cedar': permitApprove + softOnApprove }, '/danger/zone', 'approve');
    expect(verdict).toMatchObject({ decision: 'deny', policies: ['soft-all'] });
    expect(verdict.approval).toBeUndefined();
  });

  it.each([
    ['@approval("yes")', '@approval must be "required"'],
    ['@approval', '@approval must be "required"'],
    ['@approval("required")\n@approvalUses("0")', '@approvalUses must be a whole number'],
    ['@approval("required")\n@approvalWindow("forever")', '@approvalWindow must be a duration'],
    ['@approval("required")\n@approvalWindow("2d")', '@approvalWindow must be a duration'],
    ['@approvalUses("2")', 'need @approval("required")'],
    ['@approvals("required")', 'unknown annotation @approvals'],
  ])('refuses %s at validation, naming the file and the policy', async (annotations, message) => {
    const dir = await makePolicyDir({
      'sub/typo.cedar': `@id("typo")\n${annotations}\npermit (principal, action == Escrow::Action::"write", resource);\n`,
    });
    dirs.push(dir);
    const report = await validatePolicies(dir);
    expect(report.ok).toBe(false);
    expect(report.errors.join('\n')).toContain('sub/typo.cedar (typo)');
    expect(report.errors.join('\n')).toContain(message);
  });

  it('escrow policy explain says "allow, pending approval" and which policies ask', async () => {
    const dir = await makePolicyDir({});
    dirs.push(dir);
    const file = join(dir, 'explain.yaml');
    await writeFile(
      file,
      [
        'principal: { type: Agent, id: spiffe://example.org/agent/billing, trustDomain: example.org }',
        'action: delete',
        'target: { name: billing, attributes: { sensitivity: high, environment: prod, approval: per-request } }',
        'context: { task: { intent: "refund CHG-1042" }, path: /invoices/42 }',
      ].join('\n'),
    );
    const cli = ['--import', 'tsx', 'gateway/cli.ts', 'policy', 'explain', '--request', file, 'policies'];
    const { stdout } = await run('node', cli, { cwd: ROOT });
    expect(stdout).toContain('decision: allow, pending approval');
    expect(stdout).toContain('determining policies: agents-write-with-change-ticket');
    expect(stdout).toContain(
      'approval required by: prod-changes-need-approval (a grant covers 1 request(s) within 600 s)',
    );
  }, 30_000);

  it('a test case expecting a plain allow fails on an allow that waits for a person, and says so', async () => {
    const dir = await makePolicyDir({ 'a.cedar': ASKING_PERMIT, 'tests/t.yaml': '' });
    dirs.push(dir);
    await writeFile(
      join(dir, 'tests/t.yaml'),
      [
        'defaults: { target: { name: echo, attributes: { environment: dev } } }',
        'cases:',
        '  - { name: waits, action: write, decision: allow, approval: required, policies: [asking-permit] }',
        '  - { name: forgot, action: write, decision: allow }',
      ].join('\n'),
    );
    const report = await runPolicyTests(dir, join(dir, 'tests'));
    expect(report.results.map((r) => [r.name, r.ok])).toEqual([
      ['t.yaml: waits', true],
      ['t.yaml: forgot', false],
    ]);
  });
});
