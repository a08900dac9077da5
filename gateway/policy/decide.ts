import { LRUCache } from 'lru-cache';
import { combineNeeds, mergeNeed } from '../approvals/annotations.js';
import type { Decision } from '../domain.js';
import { randomId } from '../ids.js';
import { cedar } from './cedar.js';
import type { CompiledPolicySet, Slice } from './compile.js';
import { buildCall } from './request.js';
import type { AuthorizationRequest } from './types.js';

/** A decision without its id: what one policy set says about one request. */
export type Verdict = Omit<Decision, 'id'>;

/** `dec_` and 16 random hex digits. */
export function newDecisionId(): string {
  return randomId('dec_', 8, 'hex');
}

/**
 * An exact decision cache, one per compiled set (a reload compiles a new set, so it starts empty). Cedar is a
 * pure function of the preparsed set and the call; after slicing and pruning the call holds exactly what the
 * slice's policies can read, so its JSON is an exact key: two requests with the same key cannot be decided
 * differently. Time-dependent fields are in the call at the granularity Escrow sends them (hour, weekday,
 * whole seconds); a slice that reads `context.time.now` simply rarely hits. Only clean verdicts are cached:
 * a verdict with evaluation errors is recomputed (and denies) every time. Bounded by `lru-cache`: past
 * MAX_CACHED keys the least recently used verdict goes (it used to be emptied whole).
 */
const MAX_CACHED = 10_000;
/**
 * Requests whose call is larger than this are decided without the cache: a key holds the whole call (an MCP tool's
 * declared arguments included), and 10 000 keys of a megabyte each would be 10 GB an agent could make Escrow keep.
 */
const MAX_KEY_CHARS = 8_192;
const decisionCaches = new WeakMap<CompiledPolicySet, LRUCache<string, Verdict>>();

function cacheFor(set: CompiledPolicySet): LRUCache<string, Verdict> {
  let cache = decisionCaches.get(set);
  if (!cache) {
    cache = new LRUCache({ max: MAX_CACHED });
    decisionCaches.set(set, cache);
  }
  return cache;
}

/** How many verdicts the cache of `set` holds (for tests). */
export function cachedVerdicts(set: CompiledPolicySet): number {
  return decisionCaches.get(set)?.size ?? 0;
}

function deny(policies: readonly string[], errors: readonly string[]): Verdict {
  return { decision: 'deny', policies, errors };
}

/** One call of one slice: cached when clean. Fails closed like `evaluate`. */
function decideSlice(set: CompiledPolicySet, slice: Slice, request: AuthorizationRequest, now: number): Verdict {
  let answer: ReturnType<typeof cedar.statefulIsAuthorized>;
  const cache = cacheFor(set);
  let key: string;
  try {
    const call = buildCall(request, slice.setId, now, slice.usage, set.declared);
    key = JSON.stringify(call);
    const cached = cache.get(key);
    if (cached) return cached;
    answer = cedar.statefulIsAuthorized(call);
  } catch (error) {
    // RangeErrors are ours (request.ts) or Date's: messages without request data. Anything else stays generic.
    return deny([], [`request: ${error instanceof RangeError ? error.message : 'could not be evaluated'}`]);
  }
  if (answer.type === 'failure')
    return deny(
      [],
      answer.errors.map((e) => `request: ${e.message}`),
    );
  const { decision, diagnostics } = answer.response;
  if (diagnostics.errors.length > 0) {
    return deny(
      diagnostics.errors.map((e) => e.policyId).sort(),
      diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`),
    );
  }
  // Cedar's order of determining policies differs between the plain and the sliced set: sorted, the audit reads alike.
  const verdict: Verdict = { decision, policies: [...diagnostics.reason].sort(), errors: [] };
  if (key.length > MAX_KEY_CHARS) return verdict;
  cache.set(key, verdict);
  return verdict;
}

/**
 * Evaluate one request. Fails closed: no policies, a request cedar cannot read, or any policy that errored (cedar skips
 * it, so a broken `forbid` would otherwise let the request through) all deny.
 *
 * Approvals (gateway/approvals/annotations.ts): an allow whose determining permits include an `@approval` one is
 * "allow, pending approval". A deny whose every determining policy is an `@approval` forbid is decided again
 * without those forbids; if that allows, the answer is "allow, pending approval" too. A person's own `approve`
 * decision never waits for another person: there, `@approval` forbids are plain forbids.
 */
export function evaluate(set: CompiledPolicySet, request: AuthorizationRequest, now: number): Verdict {
  if (set.policyCount === 0) return deny([], []);
  const { name } = request.target;
  const { action } = request;
  const type = request.principal.type;
  let path: string;
  let slice: Slice;
  try {
    path = request.request.path;
    slice = set.sliceFor(name, action, type, path);
  } catch {
    return deny([], ['request: could not be evaluated']);
  }
  const verdict = decideSlice(set, slice, request, now);
  if (action === 'approve' || set.approvals.size === 0) return verdict;
  if (verdict.decision === 'allow') {
    const need = mergeNeed(set.approvals, verdict.policies);
    return need ? { ...verdict, approval: need } : verdict;
  }
  const soft =
    verdict.errors.length === 0 &&
    verdict.policies.length > 0 &&
    verdict.policies.every((id) => set.approvals.get(id)?.effect === 'forbid');
  if (!soft) return verdict;
  const softSlice = set.softSliceFor(name, action, type, path);
  if (!softSlice) return verdict;
  const approved = decideSlice(set, softSlice, request, now);
  if (approved.decision !== 'allow') return verdict;
  const need = combineNeeds(mergeNeed(set.approvals, verdict.policies), mergeNeed(set.approvals, approved.policies));
  return { ...approved, approval: need! };
}
