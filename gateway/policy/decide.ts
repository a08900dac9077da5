import { randomBytes } from 'node:crypto';
import type { Decision } from '../domain.js';
import { cedar } from './cedar.js';
import type { CompiledPolicySet } from './compile.js';
import { buildCall } from './request.js';
import type { AuthorizationRequest } from './types.js';

/** A decision without its id: what one policy set says about one request. */
export type Verdict = Omit<Decision, 'id'>;

/** `dec_` and 16 random hex digits. */
export function newDecisionId(): string {
  return `dec_${randomBytes(8).toString('hex')}`;
}

function deny(policies: readonly string[], errors: readonly string[]): Verdict {
  return { decision: 'deny', policies, errors };
}

/**
 * Evaluate one request. Fails closed: no policies, a request cedar cannot read, or any policy that errored (cedar skips
 * it, so a broken `forbid` would otherwise let the request through) all deny.
 */
export function evaluate(set: CompiledPolicySet, request: AuthorizationRequest, now: number): Verdict {
  if (set.policyCount === 0) return deny([], []);
  let answer: ReturnType<typeof cedar.statefulIsAuthorized>;
  try {
    const slice = set.sliceFor(request.target.name, request.action, request.principal.type);
    answer = cedar.statefulIsAuthorized(buildCall(request, slice.setId, now, slice.usage));
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
      diagnostics.errors.map((e) => e.policyId),
      diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`),
    );
  }
  return { decision, policies: diagnostics.reason, errors: [] };
}
