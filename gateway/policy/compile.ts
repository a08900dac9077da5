import { EscrowError } from '../errors.js';
import { cedar, describeErrors } from './cedar.js';
import type { PolicySetSource } from './load.js';
import { policyRecord } from './validate.js';

/** A validated policy set, preparsed inside cedar-wasm: one preparsed set per target slice. */
export interface CompiledPolicySet {
  readonly hash: string;
  readonly policyCount: number;
  /** Id of the preparsed set holding every policy that can apply to this target. */
  setIdFor(target: string): string;
  /** Drop the preparsed sets (overwrite them with empty sets). Call once nothing evaluates against this set. */
  release(): void;
}

const OTHER_TARGETS = '*';
// Preparsed sets are global to the wasm instance: every compiled set gets ids of its own.
let compilations = 0;

/**
 * Group policies by the target they can apply to. A policy whose scope names `resource == Escrow::Target::"x"` lands
 * in x's slice only; every other policy (unconstrained, `in`, `is`) lands in every slice, and in the slice for
 * targets that no policy names.
 */
export function slicePolicies(source: PolicySetSource): Map<string, Record<string, string>> {
  const anyTarget = source.policies.filter((p) => p.target === undefined);
  const slices = new Map<string, Record<string, string>>([[OTHER_TARGETS, policyRecord(anyTarget)]]);
  for (const p of source.policies) {
    if (p.target === undefined) continue;
    let slice = slices.get(p.target);
    if (slice === undefined) {
      slice = policyRecord(anyTarget);
      slices.set(p.target, slice);
    }
    slice[p.id] = p.text;
  }
  return slices;
}

function preparseAll(slices: Map<string, Record<string, string>>, prefix: string): Map<string, string> {
  const ids = new Map<string, string>();
  for (const [target, policies] of slices) {
    const id = `${prefix}${target}`;
    const answer = cedar.preparsePolicySet(id, { staticPolicies: policies });
    if (answer.type === 'failure') {
      releaseIds(ids.values());
      throw new EscrowError('config_invalid', `policy set cannot be preparsed: ${describeErrors(answer.errors)}`, {
        reason: 'policy_invalid',
      });
    }
    ids.set(target, id);
  }
  return ids;
}

function releaseIds(ids: Iterable<string>): void {
  for (const id of ids) cedar.preparsePolicySet(id, { staticPolicies: {} });
}

/**
 * Preparse a (validated) policy set. With `slice: false` all policies go in one set: the reference the sliced form
 * is tested against. Throws `config_invalid` when cedar-wasm refuses a slice; nothing stays preparsed then.
 */
export function compilePolicySet(source: PolicySetSource, options: { slice: boolean }): CompiledPolicySet {
  const prefix = `escrow#${++compilations}#`;
  const slices = options.slice ? slicePolicies(source) : new Map([[OTHER_TARGETS, policyRecord(source.policies)]]);
  const ids = preparseAll(slices, prefix);
  const fallback = ids.get(OTHER_TARGETS)!;
  return {
    hash: source.hash,
    policyCount: source.policies.length,
    setIdFor: (target) => ids.get(target) ?? fallback,
    release: () => releaseIds(ids.values()),
  };
}
