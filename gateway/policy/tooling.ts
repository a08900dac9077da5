import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { formatIssues } from '../config/issues.js';
import { EscrowError } from '../errors.js';
import { isObject } from '../json.js';
import { caseFileSchema, caseSchema, type PolicyCase, requestSchema, toAuthorizationRequest } from './cases.js';
import { type CompiledPolicySet, compilePolicySet } from './compile.js';
import { evaluate, type Verdict } from './decide.js';
import { compileDir } from './engine.js';
import { readPolicyDir } from './load.js';
import { validatePolicySet } from './validate.js';

/** What `escrow policy validate` reports. `hash` is empty when the set could not be read. */
export interface ValidationReport {
  ok: boolean;
  errors: string[];
  count: number;
  hash: string;
}

/** Read and strictly validate a policy directory without loading it into an engine. Never throws for bad policies. */
export async function validatePolicies(dir: string): Promise<ValidationReport> {
  try {
    const source = await readPolicyDir(dir);
    const errors = validatePolicySet(source);
    if (errors.length === 0) compilePolicySet(source, { slice: false, prune: false }).release();
    return { ok: errors.length === 0, errors, count: source.policies.length, hash: source.hash };
  } catch (error) {
    if (!(error instanceof EscrowError)) throw error;
    return { ok: false, errors: [error.message], count: 0, hash: '' };
  }
}

export interface CaseResult {
  /** `<file>: <case name>` */
  name: string;
  ok: boolean;
  expected: { decision: 'allow' | 'deny'; policies?: string[]; approval?: 'required' | 'none' };
  actual: Verdict;
}

/** A verdict as people read it: `allow`, `deny`, or `allow, pending approval`. */
export function describeVerdict(verdict: Verdict): string {
  return verdict.approval ? 'allow, pending approval' : verdict.decision;
}

export interface TestReport {
  passed: number;
  failed: number;
  results: CaseResult[];
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const under = out[key];
    out[key] = isObject(under) && isObject(value) ? merge(under, value) : value;
  }
  return out;
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new EscrowError('config_invalid', `${where}: ${formatIssues(parsed.error.issues)}`);
  return parsed.data;
}

async function readCases(casesDir: string): Promise<Array<{ file: string; testCase: PolicyCase }>> {
  const files = (await readdir(casesDir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const cases: Array<{ file: string; testCase: PolicyCase }> = [];
  for (const file of files) {
    const doc = parseWith(caseFileSchema, parseYaml(await readFile(join(casesDir, file), 'utf8')), file);
    doc.cases.forEach((raw, i) => {
      const testCase = parseWith(caseSchema, merge(doc.defaults, raw), `${file}: cases[${i}]`);
      cases.push({ file, testCase });
    });
  }
  return cases;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');
}

function runCase(set: CompiledPolicySet, file: string, c: PolicyCase): CaseResult {
  const request = toAuthorizationRequest(c);
  const actual = evaluate(set, request, request.now);
  const expected = {
    decision: c.decision,
    ...(c.policies === undefined ? {} : { policies: c.policies }),
    ...(c.approval === undefined ? {} : { approval: c.approval }),
  };
  // An allow that waits for a person is not the allow a case expects unless it says so.
  const approval = actual.approval ? 'required' : 'none';
  const ok =
    actual.decision === c.decision &&
    (c.policies === undefined || sameSet(actual.policies, c.policies)) &&
    (c.decision === 'deny' || approval === (c.approval ?? 'none'));
  return { name: `${file}: ${c.name}`, ok, expected, actual };
}

/**
 * Run every case in `casesDir/*.yaml` against the policies in `policyDir`. Throws `config_invalid` when the policies
 * are invalid or a case file is malformed (naming the file and case).
 */
export async function runPolicyTests(policyDir: string, casesDir: string): Promise<TestReport> {
  const cases = await readCases(casesDir);
  const set = await compileDir(policyDir);
  try {
    const results = cases.map(({ file, testCase }) => runCase(set, file, testCase));
    const passed = results.filter((r) => r.ok).length;
    return { passed, failed: results.length - passed, results };
  } finally {
    set.release();
  }
}

/**
 * Decide one request (YAML text or an object in the test-case request form) against a policy directory, and say
 * why: the decision, the determining policies, and any evaluation errors.
 */
export async function explain(dir: string, request: string | object): Promise<Verdict> {
  const value: unknown = typeof request === 'string' ? parseYaml(request) : request;
  const spec = parseWith(requestSchema, value, 'request');
  const set = await compileDir(dir);
  try {
    const authorization = toAuthorizationRequest(spec);
    return evaluate(set, authorization, authorization.now);
  } finally {
    set.release();
  }
}
