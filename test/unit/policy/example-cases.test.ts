import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readPolicyDir } from '../../../gateway/policy/load.js';
import { runPolicyTests } from '../../../gateway/policy/tooling.js';

const POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));
const CASES = fileURLToPath(new URL('../../../policies/tests', import.meta.url));

describe('the example policies pass their YAML test cases', () => {
  it('passes every case in policies/tests', async () => {
    const report = await runPolicyTests(POLICIES, CASES);
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    expect(report.failed).toBe(0);
    expect(report.passed).toBeGreaterThanOrEqual(25);
  });

  it('has a case file for every example policy file', async () => {
    const cedarFiles = (await readdir(POLICIES)).filter((f) => f.endsWith('.cedar'));
    const caseFiles = new Set(await readdir(CASES));
    for (const file of cedarFiles) expect(caseFiles).toContain(file.replace(/\.cedar$/, '.yaml'));
  });

  it('shows every example policy deciding some case', async () => {
    const report = await runPolicyTests(POLICIES, CASES);
    const decided = new Set(report.results.flatMap((r) => r.actual.policies));
    const ids = (await readPolicyDir(POLICIES)).policies.map((p) => p.id);
    expect(ids.filter((id) => !decided.has(id))).toEqual([]);
  });
});
