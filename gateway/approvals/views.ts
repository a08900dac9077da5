import { type Approval, visibleState } from './model.js';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** What both sides see: what waits, its state, and its bounds. Never a secret, never a token. */
function common(approval: Approval, now: number) {
  const s = approval.subject;
  return {
    id: s.id,
    kind: s.kind,
    state: visibleState(approval, now),
    targets: s.targets,
    action: s.action,
    method: s.method,
    path: s.path,
    query: s.query,
    requestedAt: iso(s.requestedAt),
    expiresAt: iso(s.expiresAt),
    ...(s.kind === 'request' ? { uses: s.uses, windowSeconds: s.windowSeconds } : {}),
    ...(approval.usesLeft === undefined ? {} : { usesLeft: approval.usesLeft }),
    ...(approval.validUntil === undefined ? {} : { validUntil: iso(approval.validUntil) }),
  };
}

/**
 * What a person deciding sees (and operators, and the webhook): the agent, the task's intent and targets, the
 * method, path and query, the policies that asked, and who decided. Nothing secret: no credential, no token, no
 * policy text.
 */
export function approverView(approval: Approval, now: number) {
  const s = approval.subject;
  const d = approval.decision;
  return {
    ...common(approval, now),
    agent: { type: s.requester.type, id: s.requester.id, issuer: s.requester.issuer },
    task: { id: s.task.id, intent: s.task.intent, targets: s.task.targets, expiresAt: iso(s.task.expiresAt) },
    policies: s.approvalPolicies,
    decisionId: s.decisionId,
    ...(d
      ? {
          decision: {
            outcome: d.outcome,
            by: { type: d.by.type, id: d.by.id, issuer: d.by.issuer },
            at: iso(d.at),
            ...(d.comment === undefined ? {} : { comment: d.comment }),
            decisionId: d.decisionId,
          },
        }
      : {}),
  };
}

/** What the agent that asked sees: the state and bounds of its own approval; not who decided or why. */
export function requesterView(approval: Approval, now: number) {
  return { ...common(approval, now), task: approval.subject.task.id };
}

export type ApproverView = ReturnType<typeof approverView>;
