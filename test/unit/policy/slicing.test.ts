import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type CompiledPolicySet, compilePolicySet } from '../../../gateway/policy/compile.js';
import { evaluate, type Verdict } from '../../../gateway/policy/decide.js';
import { parsePolicySet } from '../../../gateway/policy/load.js';
import { pathPrefixOf } from '../../../gateway/policy/path-prefix.js';
import type { AuthorizationRequest } from '../../../gateway/policy/types.js';
import { validatePolicySet } from '../../../gateway/policy/validate.js';
import { PATHS, pathPolicySetArb } from '../../policy/fixtures/path-policy-gen.js';
import { policySetArb, requestArb } from '../../policy/fixtures/policy-gen.js';

const schema = readFileSync(new URL('../../../policies/schema.cedarschema', import.meta.url), 'utf8');
const TARGETS = 20;
const compiled: CompiledPolicySet[] = [];

function normalise(v: Verdict): Verdict {
  return { decision: v.decision, policies: [...v.policies].sort(), errors: [...v.errors].sort() };
}

interface Forms {
  plain: CompiledPolicySet;
  sliced: CompiledPolicySet;
  pruned: CompiledPolicySet;
  unpathed: CompiledPolicySet;
}

function forms(text: string): Forms {
  const source = parsePolicySet(schema, new Map([['generated.cedar', text]]));
  expect(validatePolicySet(source)).toEqual([]);
  const plain = compilePolicySet(source, { slice: false, prune: false });
  const sliced = compilePolicySet(source, { slice: true, prune: false });
  const pruned = compilePolicySet(source, { slice: true, prune: true });
  const unpathed = compilePolicySet(source, { slice: true, prune: true, pathPrefixes: false });
  compiled.push(plain, sliced, pruned, unpathed);
  return { plain, sliced, pruned, unpathed };
}

/** Every form decides `request` as the plain one; returns the plain outcome (allow, deny or error). */
function agree(f: Forms, request: AuthorizationRequest): string {
  const expected = normalise(evaluate(f.plain, request, request.now));
  for (const form of [f.sliced, f.pruned, f.unpathed]) {
    expect(normalise(evaluate(form, request, request.now))).toEqual(expected);
  }
  return expected.errors.length > 0 ? 'error' : expected.decision;
}

afterAll(() => {
  for (const set of compiled) set.release();
});

describe('a sliced, pruned policy set decides exactly as the whole set does', () => {
  for (const seed of [1, 2, 3]) {
    it(`agrees on thousands of generated requests over a generated 200-policy set (seed ${seed})`, () => {
      const [text] = fc.sample(policySetArb(200, TARGETS), { numRuns: 1, seed });
      const f = forms(text!);
      const outcomes = new Set<string>();
      fc.assert(
        fc.property(requestArb(TARGETS), (request) => {
          outcomes.add(agree(f, request));
        }),
        { numRuns: 2000, seed },
      );
      // The generated requests must exercise allows, denies and errors, or agreement proves little.
      expect([...outcomes].sort()).toEqual(['allow', 'deny', 'error']);
    }, 90_000);
  }
});

describe('cutting a slice by path prefix decides exactly as the whole set does', () => {
  const PATH_TARGETS = 4;
  for (const seed of [1, 2, 3]) {
    it(`agrees over a generated set of policies reading the path in every position (seed ${seed})`, () => {
      const [text] = fc.sample(pathPolicySetArb(80, PATH_TARGETS), { numRuns: 1, seed });
      const f = forms(text!);
      // Both kinds must be there: policies cut by a prefix and policies always kept.
      const prefixes = parsePolicySet(schema, new Map([['g.cedar', text!]])).policies.map((p) => pathPrefixOf(p.json));
      expect(prefixes.some((p) => p !== undefined) && prefixes.some((p) => p === undefined)).toBe(true);
      const outcomes = new Set<string>();
      fc.assert(
        fc.property(requestArb(PATH_TARGETS, PATHS), (request) => {
          outcomes.add(agree(f, request));
        }),
        { numRuns: 2000, seed },
      );
      expect([...outcomes].sort()).toEqual(['allow', 'deny', 'error']);
    }, 90_000);
  }
});
