import type { AuditEventInput } from '../audit/types.js';
import { type PrincipalRef, principalRef } from '../domain.js';
import type { Approval, ApprovalDecision, ApprovalSubject } from './model.js';

/** What every approval event says about what waited: linked to the task and to the agent's decision. */
function about(s: ApprovalSubject) {
  return {
    approvalId: s.id,
    kind: s.kind,
    task: { id: s.task.id, chain: s.task.chain, intent: s.task.intent },
    ...(s.kind === 'request' ? { target: s.targets[0] } : { targets: s.targets }),
    action: s.action,
    method: s.method,
    path: s.path,
    ...(s.query ? { query: s.query } : {}),
    requestDecisionId: s.decisionId,
    approvalPolicies: s.approvalPolicies,
  };
}

/** The agent's allow that waits for a person. `principal` is the agent: the one acting. */
export function requestedEvent(s: ApprovalSubject, requestId: string): AuditEventInput {
  return {
    event: 'approval.requested',
    requestId,
    decisionId: s.decisionId,
    decision: 'allow',
    policies: s.policies,
    principal: principalRef(s.requester),
    ...about(s),
    ...(s.kind === 'request' ? { uses: s.uses, windowSeconds: s.windowSeconds } : {}),
    expiresAt: new Date(s.expiresAt).toISOString(),
  };
}

/**
 * A person's decision. `principal` is the person (the one acting), `requester` the agent; `decisionId` is Cedar's
 * `approve` decision that let the person decide, `requestDecisionId` the agent's.
 */
export function decidedEvent(s: ApprovalSubject, d: ApprovalDecision, requestId: string): AuditEventInput {
  return {
    event: d.outcome === 'approved' ? 'approval.granted' : 'approval.denied',
    requestId,
    decisionId: d.decisionId,
    decision: 'allow',
    principal: principalRef(d.by),
    requester: principalRef(s.requester),
    ...about(s),
    ...(d.comment === undefined ? {} : { comment: d.comment }),
    waitedSeconds: Math.max(0, Math.round((d.at - s.requestedAt) / 1000)),
  };
}

/** No decision came: the request expired, or its task was closed first. */
export function settledEvent(approval: Approval, to: 'expired' | 'cancelled'): AuditEventInput {
  const s = approval.subject;
  return {
    event: to === 'expired' ? 'approval.expired' : 'approval.cancelled',
    decision: 'deny',
    principal: principalRef(s.requester),
    ...about(s),
    reason: to === 'expired' ? 'no_decision' : 'task_closed',
  };
}

/** An attempt to decide that was refused (an agent token, the requester, a person policy does not permit…). */
export function refusedEvent(
  id: string,
  caller: PrincipalRef,
  reason: string,
  requestId: string,
  decisionId?: string,
): AuditEventInput {
  return {
    event: 'approval.refused',
    requestId,
    approvalId: id,
    principal: principalRef(caller),
    decision: 'deny',
    reason,
    ...(decisionId === undefined ? {} : { decisionId }),
  };
}
