import { EscrowError } from '../errors.js';
import { cedar, describeErrors } from './cedar.js';
import type { PolicySetSource, PolicySource } from './load.js';
import { addPolicyUsage, emptyUsage, type PayloadUsage } from './usage.js';
import { policyRecord } from './validate.js';

/** One preparsed set, and what its policies can read (undefined: send the whole request). */
export interface Slice {
  readonly setId: string;
  readonly usage: PayloadUsage | undefined;
}

/** A validated policy set, preparsed inside cedar-wasm: one preparsed set per target slice. */
export interface CompiledPolicySet {
  readonly hash: string;
  readonly policyCount: number;
  /** The preparsed set holding every policy that can apply to this target. */
  sliceFor(target: string): Slice;
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
export function slicePolicies(source: PolicySetSource): Map<string, PolicySource[]> {
  const anyTarget = source.policies.filter((p) => p.target === undefined);
  const slices = new Map<string, PolicySource[]>([[OTHER_TARGETS, anyTarget]]);
  for (const p of source.policies) {
    if (p.target === undefined) continue;
    slices.set(p.target, [...(slices.get(p.target) ?? anyTarget), p]);
  }
  return slices;
}

function usageOf(policies: readonly PolicySource[]): PayloadUsage {
  const usage = emptyUsage();
  for (const p of policies) addPolicyUsage(usage, p.json);
  return usage;
}

function preparseAll(slices: Map<string, PolicySource[]>, prefix: string, prune: boolean): Map<string, Slice> {
  const prepared = new Map<string, Slice>();
  for (const [target, policies] of slices) {
    const setId = `${prefix}${target}`;
    const answer = cedar.preparsePolicySet(setId, { staticPolicies: policyRecord(policies) });
    if (answer.type === 'failure') {
      releaseIds([...prepared.values()].map((s) => s.setId));
      throw new EscrowError('config_invalid', `policy set cannot be preparsed: ${describeErrors(answer.errors)}`, {
        reason: 'policy_invalid',
      });
    }
    prepared.set(target, { setId, usage: prune ? usageOf(policies) : undefined });
  }
  return prepared;
}

function releaseIds(ids: Iterable<string>): void {
  for (const id of ids) cedar.preparsePolicySet(id, { staticPolicies: {} });
}

export interface CompileOptions {
  /** One preparsed set per target (default true). `false` puts every policy in one set. */
  readonly slice?: boolean;
  /** Send cedar only what a slice's policies can read (default true). `false` sends the whole request. */
  readonly prune?: boolean;
}

/**
 * Preparse a (validated) policy set. With `slice: false, prune: false` it is the plain form that the optimised one
 * is tested against. Throws `config_invalid` when cedar-wasm refuses a slice; nothing stays preparsed then.
 */
export function compilePolicySet(source: PolicySetSource, options: CompileOptions = {}): CompiledPolicySet {
  const prefix = `escrow#${++compilations}#`;
  const slices = options.slice === false ? new Map([[OTHER_TARGETS, [...source.policies]]]) : slicePolicies(source);
  const prepared = preparseAll(slices, prefix, options.prune !== false);
  const fallback = prepared.get(OTHER_TARGETS)!;
  return {
    hash: source.hash,
    policyCount: source.policies.length,
    sliceFor: (target) => prepared.get(target) ?? fallback,
    release: () => releaseIds([...prepared.values()].map((s) => s.setId)),
  };
}
