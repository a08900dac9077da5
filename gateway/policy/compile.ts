import { type ApprovalRule, approvalRules } from '../approvals/annotations.js';
import type { Action, PrincipalType } from '../domain.js';
import { EscrowError } from '../errors.js';
import { type DeclaredArguments, declaredArguments } from './arguments.js';
import { cedar, describeErrors } from './cedar.js';
import type { PolicySetSource, PolicySource } from './load.js';
import { pathPrefixOf, pathSlices } from './path-prefix.js';
import { scopeAdmits } from './scope.js';
import { addPolicyUsage, emptyUsage, type PayloadUsage } from './usage.js';
import { policyRecord } from './validate.js';

/** One preparsed set, and what its policies can read (undefined: send the whole request). */
export interface Slice {
  readonly setId: string;
  readonly usage: PayloadUsage | undefined;
}

/** A validated policy set, preparsed inside cedar-wasm. */
export interface CompiledPolicySet {
  readonly hash: string;
  readonly policyCount: number;
  /** The MCP arguments the schema declares (gateway/policy/arguments.ts). */
  readonly declared: DeclaredArguments;
  /**
   * The preparsed set holding every policy whose scope can match this target, action and principal type, less those
   * that a leading condition on `context.request.path` rules out for `path` (gateway/policy/path-prefix.ts).
   */
  sliceFor(target: string, action: Action, principalType: PrincipalType, path: string): Slice;
  /** Policies that ask for a person (`@approval`), by id (gateway/approvals/annotations.ts). */
  readonly approvals: ReadonlyMap<string, ApprovalRule>;
  /**
   * The same slice without its `@approval` forbids ("forbid unless approved"): what would be decided once a person
   * approved. Undefined when the slice has none.
   */
  softSliceFor(target: string, action: Action, principalType: PrincipalType, path: string): Slice | undefined;
  /** Drop the preparsed sets (overwrite them with empty sets). Call once nothing evaluates against this set. */
  release(): void;
}

export interface CompileOptions {
  /** One preparsed set per (target, action, principal type) (default true). `false` puts every policy in one set. */
  readonly slice?: boolean;
  /** Send cedar only what a slice's policies can read (default true). `false` sends the whole request. */
  readonly prune?: boolean;
  /** With `slice`, cut each slice further by the request path's prefixes (default true; path-prefix.ts). */
  readonly pathPrefixes?: boolean;
}

// Preparsed sets are global to the wasm instance: every compiled set gets ids of its own.
let compilations = 0;

function invalid(errors: { message: string }[]): EscrowError {
  return new EscrowError('config_invalid', `policy set cannot be preparsed: ${describeErrors(errors)}`, {
    reason: 'policy_invalid',
  });
}

function preparse(setId: string, policies: readonly PolicySource[]): void {
  const answer = cedar.preparsePolicySet(setId, { staticPolicies: policyRecord(policies) });
  if (answer.type === 'failure') throw invalid(answer.errors);
}

function usageOf(policies: readonly PolicySource[]): PayloadUsage {
  const usage = emptyUsage();
  for (const p of policies) addPolicyUsage(usage, p.json);
  return usage;
}

type SliceLookup = Pick<CompiledPolicySet, 'sliceFor' | 'softSliceFor' | 'release'>;
type PathSlices = (path: string) => Slice;

/**
 * Slices built on first use, one preparsed set per distinct list of policies. Each (target, action, principal type)
 * gets its policies cut by path prefix (path-prefix.ts); with `paths` false, every prefix counts as absent.
 */
function lazySlices(
  source: PolicySetSource,
  prefix: string,
  options: { prune: boolean; paths: boolean },
  soft: (p: PolicySource) => boolean,
): SliceLookup {
  const named = new Set(source.policies.flatMap((p) => (p.scope.target === undefined ? [] : [p.scope.target])));
  const pathPrefixes = new Map(source.policies.map((p) => [p, options.paths ? pathPrefixOf(p.json) : undefined]));
  const byKey = new Map<string, PathSlices | undefined>();
  const byPolicies = new Map<string, Slice>();
  let released = false;
  const sliceOf = (policies: readonly PolicySource[]) => {
    const ids = policies.map((p) => p.id).join('\0');
    let slice = byPolicies.get(ids);
    if (slice === undefined) {
      slice = { setId: `${prefix}${byPolicies.size}`, usage: options.prune ? usageOf(policies) : undefined };
      preparse(slice.setId, policies);
      byPolicies.set(ids, slice);
    }
    return slice;
  };
  const build = (
    target: string | undefined,
    action: Action,
    type: PrincipalType,
    keep = (_p: PolicySource) => true,
  ): PathSlices =>
    pathSlices(
      source.policies.filter((p) => scopeAdmits(p.scope, target, action, type) && keep(p)),
      (p) => pathPrefixes.get(p),
      sliceOf,
    );
  const lookup = (target: string, action: Action, type: PrincipalType, path: string, variant: 'all' | 'soft') => {
    // After release nothing is preparsed any more: the missing set makes cedar fail, which denies.
    if (released) return { setId: `${prefix}released`, usage: undefined };
    const scoped = named.has(target) ? target : undefined;
    const key = `${scoped ?? '*'}\0${action}\0${type}\0${variant}`;
    if (!byKey.has(key)) {
      const hasSoft = source.policies.some((p) => soft(p) && scopeAdmits(p.scope, scoped, action, type));
      if (variant === 'all') byKey.set(key, build(scoped, action, type));
      else byKey.set(key, hasSoft ? build(scoped, action, type, (p) => !soft(p)) : undefined);
    }
    return byKey.get(key)?.(path);
  };
  return {
    sliceFor: (target, action, type, path) => lookup(target, action, type, path, 'all')!,
    softSliceFor: (target, action, type, path) => lookup(target, action, type, path, 'soft'),
    release: () => {
      released = true;
      release([...byPolicies.values()].map((s) => s.setId));
    },
  };
}

/**
 * Preparse a (validated) policy set. The whole set is preparsed at once, so a set cedar refuses throws
 * `config_invalid` here and nothing stays preparsed. With slicing, that whole set is dropped again and each
 * (target, action, principal type) gets a set of only the policies whose scope can match it, less those whose leading
 * path condition the request's path cannot meet, preparsed on first use and shared between keys with the same
 * policies: preparsing every slice up front would block the event loop for seconds with hundreds of targets.
 * `slice: false, prune: false` is the plain form the sliced one is tested against.
 */
export function compilePolicySet(source: PolicySetSource, options: CompileOptions = {}): CompiledPolicySet {
  const declared = declaredArguments(source.schema); // before preparsing: a refused schema leaves nothing behind
  const approvals = approvalRulesOf(source);
  const soft = (p: PolicySource) => p.effect === 'forbid' && approvals.has(p.id);
  const prefix = `escrow#${++compilations}#`;
  const whole = `${prefix}all`;
  preparse(whole, source.policies);
  const prune = options.prune !== false;
  const base = { hash: source.hash, policyCount: source.policies.length, declared, approvals };
  if (options.slice !== false) {
    release([whole]);
    return { ...base, ...lazySlices(source, prefix, { prune, paths: options.pathPrefixes !== false }, soft) };
  }
  const wholeSlice: Slice = { setId: whole, usage: prune ? usageOf(source.policies) : undefined };
  const softPolicies = source.policies.filter((p) => !soft(p));
  const softSlice: Slice | undefined =
    softPolicies.length === source.policies.length ? undefined : { setId: `${prefix}soft`, usage: wholeSlice.usage };
  if (softSlice) preparse(softSlice.setId, softPolicies);
  return {
    ...base,
    sliceFor: () => wholeSlice,
    softSliceFor: () => softSlice,
    release: () => release(softSlice ? [whole, softSlice.setId] : [whole]),
  };
}

function approvalRulesOf(source: PolicySetSource): ReadonlyMap<string, ApprovalRule> {
  try {
    return approvalRules(
      source.policies.map((p) => ({ id: p.id, effect: p.effect, annotations: p.json.annotations ?? {} })),
    );
  } catch (error) {
    throw new EscrowError('config_invalid', `policy set: ${(error as Error).message}`, { reason: 'policy_invalid' });
  }
}

function release(setIds: Iterable<string>): void {
  for (const id of setIds) cedar.preparsePolicySet(id, { staticPolicies: {} });
}
