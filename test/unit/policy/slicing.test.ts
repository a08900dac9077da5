import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type CompiledPolicySet, compilePolicySet } from '../../../gateway/policy/compile.js';
import { evaluate, type Verdict } from '../../../gateway/policy/decide.js';
import { parsePolicySet } from '../../../gateway/policy/load.js';
import { validatePolicySet } from '../../../gateway/policy/validate.js';
import { policySetArb, requestArb } from '../../policy/fixtures/policy-gen.js';

const schema = readFileSync(new URL('../../../policies/schema.cedarschema', import.meta.url), 'utf8');
const TARGETS = 20;
const compiled: CompiledPolicySet[] = [];

function normalise(v: Verdict): Verdict {
  return { decision: v.decision, policies: [...v.policies].sort(), errors: [...v.errors].sort() };
}

function forms(seed: number): { plain: CompiledPolicySet; sliced: CompiledPolicySet; pruned: CompiledPolicySet } {
  const [text] = fc.sample(policySetArb(200, TARGETS), { numRuns: 1, seed });
  const source = parsePolicySet(schema, new Map([['generated.cedar', text!]]));
  expect(validatePolicySet(source)).toEqual([]);
  const plain = compilePolicySet(source, { slice: false, prune: false });
  const sliced = compilePolicySet(source, { slice: true, prune: false });
  const pruned = compilePolicySet(source, { slice: true, prune: true });
  compiled.push(plain, sliced, pruned);
  return { plain, sliced, pruned };
}

afterAll(() => {
  for (const set of compiled) set.release();
});

describe('a sliced, pruned policy set decides exactly as the whole set does', () => {
  for (const seed of [1, 2, 3]) {
    it(`agrees on thousands of generated requests over a generated 200-policy set (seed ${seed})`, () => {
      const { plain, sliced, pruned } = forms(seed);
      const outcomes = new Set<string>();
      fc.assert(
        fc.property(requestArb(TARGETS), (request) => {
          const expected = normalise(evaluate(plain, request, request.now));
          outcomes.add(expected.errors.length > 0 ? 'error' : expected.decision);
          expect(normalise(evaluate(sliced, request, request.now))).toEqual(expected);
          expect(normalise(evaluate(pruned, request, request.now))).toEqual(expected);
        }),
        { numRuns: 2000, seed },
      );
      // The generated requests must exercise allows, denies and errors, or agreement proves little.
      expect([...outcomes].sort()).toEqual(['allow', 'deny', 'error']);
    }, 90_000);
  }
});
