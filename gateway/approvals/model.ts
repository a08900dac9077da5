import { createHash } from 'node:crypto';
import type { Action, PrincipalRef } from '../domain.js';
import { randomId } from '../ids.js';

/** `task`: opening a task waits for a person; `request`: one request (method, target, path and query) does. */
export type ApprovalKind = 'task' | 'request';

/** `deciding` is internal: a person's decision is being written (see ApprovalTransitions.claim). */
export type ApprovalState = 'pending' | 'deciding' | 'approved' | 'denied' | 'expired' | 'cancelled';

export const APPROVAL_ID = /^apr_[A-Za-z0-9_-]{22}$/;

export function newApprovalId(): string {
  return randomId('apr_', 16, 'base64url');
}

/** The requester as policy and approvers see it: who, from which issuer, never a token. */
export interface Requester extends PrincipalRef {
  readonly trustDomain?: string;
}

/** What waits for a person. Written once; nothing in it is secret. */
export interface ApprovalSubject {
  readonly id: string;
  readonly kind: ApprovalKind;
  readonly requester: Requester;
  readonly task: {
    readonly id: string;
    /** Root first, this task last. */
    readonly chain: readonly string[];
    readonly intent: string;
    readonly targets: readonly string[];
    readonly depth: number;
    readonly openedAt: number;
    readonly expiresAt: number;
  };
  /** The targets a person must approve: the one of a request, or those of a task whose `openTask` asked. */
  readonly targets: readonly string[];
  readonly action: Exclude<Action, 'approve'>;
  readonly method: string;
  /** The canonical upstream path policy saw (a task: `/tasks`). */
  readonly path: string;
  /** The raw query (`?a=1`), or `''`. An approval covers exactly this query too. */
  readonly query: string;
  readonly queryKeys: readonly string[];
  /** The agent's decision(s) that asked for a person, and their determining policies. */
  readonly decisionId: string;
  readonly policies: readonly string[];
  /** The policies whose `@approval` asked. */
  readonly approvalPolicies: readonly string[];
  /** A granted request approval covers this many requests within `windowSeconds` of the decision. */
  readonly uses: number;
  readonly windowSeconds: number;
  readonly requestedAt: number;
  readonly expiresAt: number;
}

/** A person's decision. */
export interface ApprovalDecision {
  readonly outcome: 'approved' | 'denied';
  readonly by: PrincipalRef;
  readonly at: number;
  readonly comment?: string;
  /** The `approve` decision of Cedar that let this person decide. */
  readonly decisionId: string;
}

/** An approval as the store holds it. */
export interface Approval {
  readonly subject: ApprovalSubject;
  readonly state: ApprovalState;
  readonly decision?: ApprovalDecision;
  /** A granted request approval: how many requests it still covers, and until when (epoch ms). */
  readonly usesLeft?: number;
  readonly validUntil?: number;
}

/**
 * The binding of a request approval: one task, one principal, one target, method, canonical path and query. A
 * grant is found, and consumed, only by a request with the same key.
 */
export function requestKey(parts: {
  taskId: string;
  requester: PrincipalRef;
  target: string;
  method: string;
  path: string;
  query: string;
}): string {
  const { taskId, requester: r, target, method, path, query } = parts;
  return createHash('sha256')
    .update([taskId, r.type, r.issuer, r.id, target, method, path, query].join('\n'))
    .digest('base64url');
}

/** The state a reader should see: a pending approval past its expiry is expired, a claim is still pending. */
export function visibleState(approval: Approval, now: number): Exclude<ApprovalState, 'deciding'> {
  const { state } = approval;
  if (state === 'pending' || state === 'deciding') return approval.subject.expiresAt <= now ? 'expired' : 'pending';
  return state;
}
