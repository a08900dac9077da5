import { z } from 'zod';
import { requireAudit } from '../audit/fail-mode.js';
import { formatIssues } from '../config/issues.js';
import { type Principal, principalRef, samePrincipal } from '../domain.js';
import { EscrowError, type EscrowErrorCode } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { principalHash } from '../tasks/model.js';
import { mayDecide } from './authorize.js';
import { decidedEvent, refusedEvent } from './events.js';
import type { RefusalReason } from './metrics.js';
import { APPROVAL_ID, type Approval, type ApprovalDecision } from './model.js';
import { RETAIN_MS } from './service.js';
import type { Grant } from './store.js';
import { approverView } from './views.js';

/** `POST /_escrow/approvals/<id>`. Unknown fields are errors. */
const decisionBody = z.strictObject({
  decision: z.enum(['approve', 'deny']),
  comment: z.string().trim().min(1).max(1000).optional(),
});

/** How long a decision being written holds the approval; an unfinished one lapses and it is pending again. */
const CLAIM_MS = 30_000;

export interface DecideContext {
  readonly requestId: string;
  readonly address: string | undefined;
}

/**
 * A person approves or denies. In order: only a Human principal (never an agent token), never the requester, only
 * whom Cedar's `approve` allows on every target that waits, only while the task lives and the approval is
 * pending. Every refusal is audited (`approval.refused`). The decision is claimed, audited (and flushed: an
 * approval the trail does not show never takes effect), then written; a retry after a timeout finds its own.
 */
export async function decide(gw: Gateway, id: string, person: Principal, body: unknown, ctx: DecideContext) {
  const svc = gw.approvals;
  const refuse = (reason: RefusalReason, code: EscrowErrorCode, message: string, decisionId?: string) => {
    svc.o.metrics.refusals.inc({ reason });
    svc.o.audit.record(refusedEvent(id, person, reason, ctx.requestId, decisionId));
    return new EscrowError(code, message, { reason, approvalId: id, ...(decisionId ? { decisionId } : {}) });
  };
  if (person.type !== 'Human') {
    throw refuse('not_human', 'approval_forbidden', 'only a person (a Human principal) may approve or deny');
  }
  const parsed = decisionBody.safeParse(body);
  if (!parsed.success) throw new EscrowError('bad_request', formatIssues(parsed.error.issues));
  const approval = APPROVAL_ID.test(id) ? await svc.get(id) : null;
  if (!approval) throw refuse('not_found', 'approval_not_found', 'no such approval');
  if (samePrincipal(approval.subject.requester, person)) {
    throw refuse('requester', 'approval_forbidden', 'nobody decides on their own request');
  }
  const permit = mayDecide(gw, person, approval, ctx.address);
  if (permit.decision !== 'allow') {
    throw refuse('policy_denied', 'approval_forbidden', 'policy does not let you decide this approval', permit.id);
  }
  if (!(await taskLives(gw, approval))) {
    await svc.settle(id, 'cancelled');
    throw refuse('settled', 'approval_decided', 'the task was closed before a decision', permit.id);
  }
  const decision: ApprovalDecision = {
    outcome: parsed.data.decision === 'approve' ? 'approved' : 'denied',
    by: principalRef(person),
    at: gw.now(),
    ...(parsed.data.comment === undefined ? {} : { comment: parsed.data.comment }),
    decisionId: permit.id,
  };
  return write(gw, approval, decision, ctx, refuse);
}

async function write(
  gw: Gateway,
  approval: Approval,
  decision: ApprovalDecision,
  ctx: DecideContext,
  refuse: (reason: RefusalReason, code: EscrowErrorCode, message: string, decisionId?: string) => EscrowError,
) {
  const svc = gw.approvals;
  const { transitions } = svc.o.store;
  const s = approval.subject;
  const granting = decision.outcome === 'approved';
  if (granting) requireAudit(svc.o.audit, 'nothing is approved');
  const claimant = `${principalHash(decision.by)}:${decision.outcome}`;
  const claim = await transitions.claim(s.id, claimant, decision.at, decision.at + CLAIM_MS);
  if (claim === 'done') {
    // A retry of a decision that was written (its answer was lost): finish what may not have run, answer alike.
    const current = (await svc.get(s.id)) ?? approval;
    await svc.afterward(current, !granting);
    return approverView(current, gw.now());
  }
  if (claim !== 'claimed') {
    if (claim === 'expired!') await svc.settled({ ...approval, state: 'expired' }, 'expired', decision.at);
    const state = claim === 'expired!' ? 'expired' : claim;
    throw refuse('settled', 'approval_decided', `the approval is ${state === 'busy' ? 'being decided' : state}`);
  }
  svc.o.audit.record(decidedEvent(s, decision, ctx.requestId));
  await svc.o.audit.flush();
  if (granting) {
    try {
      requireAudit(svc.o.audit, 'nothing is approved');
    } catch (error) {
      await transitions.unclaim(s.id, claimant).catch(() => {});
      throw error;
    }
  }
  const grant: Grant | undefined =
    granting && s.kind === 'request' ? { uses: s.uses, validUntil: decision.at + s.windowSeconds * 1000 } : undefined;
  const ttl = Math.max(svc.retention(s), (grant?.validUntil ?? 0) - decision.at + RETAIN_MS);
  if (!(await transitions.commit(s.id, claimant, decision, grant, ttl))) {
    throw refuse('settled', 'approval_decided', 'the approval was settled while this decision was written');
  }
  const decided: Approval = {
    ...approval,
    state: decision.outcome,
    decision,
    ...(grant ? { usesLeft: grant.uses, validUntil: grant.validUntil } : {}),
  };
  await svc.settled(decided, granting ? 'granted' : 'denied', decision.at);
  return approverView(decided, gw.now());
}

/** An approval is decided only while its task lives (an ambient task lives as long as its principal uses it). */
async function taskLives(gw: Gateway, approval: Approval): Promise<boolean> {
  const taskId = approval.subject.task.id;
  return !taskId.startsWith('tsk_') || (await gw.tasks.get(taskId)) !== null;
}
