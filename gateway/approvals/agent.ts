import { type Action, type ApprovalNeed, type Decision, type Principal, type Task, taskRef } from '../domain.js';
import { EscrowError } from '../errors.js';
import { TASK_ID } from '../tasks/model.js';
import { type ApprovalSubject, newApprovalId, type Requester, requestKey, visibleState } from './model.js';
import type { ApprovalService } from './service.js';

/** What the pipeline asks once Cedar allowed a request (gateway/pipeline/authorize.ts, after stage 4). */
export interface ApprovalAsk {
  /** The request's task, or the ambient one of a target without `requireTask`. */
  readonly task: Task;
  readonly principal: Principal;
  readonly decision: Decision;
  readonly target: string;
  readonly action: Action;
  readonly method: string;
  /** The canonical upstream path policy saw. */
  readonly path: string;
  readonly query: string;
  readonly queryKeys: readonly string[];
  readonly requestId: string;
}

export function requesterOf(p: Principal): Requester {
  return { type: p.type, id: p.id, issuer: p.issuer, ...(p.trustDomain ? { trustDomain: p.trustDomain } : {}) };
}

export function taskOf(task: Task): ApprovalSubject['task'] {
  const { intent, targets, depth, openedAt, expiresAt } = task;
  return { ...taskRef(task), intent, targets, depth, openedAt, expiresAt };
}

const waiting = (id: string, kind: 'task' | 'request') =>
  new EscrowError(
    'approval_required',
    kind === 'task'
      ? 'this task waits for a person to approve it: wait on the approval, then retry'
      : 'this request waits for a person to approve it: wait on the approval, then retry the same request',
    { approvalId: id, reason: `${kind}_pending` },
  );

/**
 * Stage 4½: no lease while anything waits for a person. A task that waits refuses every request; a request whose
 * allow needs a person takes one use of a matching grant, or asks for one (`approval_required` with its id).
 * Returns the id of the approval the request used, for its audit event.
 */
export async function admitApproval(svc: ApprovalService, ask: ApprovalAsk): Promise<string | undefined> {
  if (ask.task.approval !== undefined) await requireTaskApproved(svc, ask.task);
  const need = ask.decision.approval;
  return need ? await requestGrant(svc, ask, need) : undefined;
}

/** The task's own approval must be granted. Once it is, that is cached for the task's life (it never goes back). */
export async function requireTaskApproved(svc: ApprovalService, task: Task): Promise<void> {
  const id = task.approval!;
  if (svc.granted.get(`${task.id}:${id}`)) return;
  const approval = await svc.get(id);
  if (!approval || approval.subject.task.id !== task.id) {
    throw new EscrowError('approval_expired', 'the approval request of this task is gone', { approvalId: id });
  }
  const state = visibleState(approval, svc.o.now());
  switch (state) {
    case 'approved':
      svc.granted.set(`${task.id}:${id}`, true, task.expiresAt);
      return;
    case 'pending':
      throw waiting(id, 'task');
    case 'denied':
      throw new EscrowError('approval_denied', 'a person denied this task', { approvalId: id });
    case 'expired':
      await svc.settle(id, 'expired');
      throw new EscrowError('approval_expired', 'nobody approved this task in time', { approvalId: id });
    case 'cancelled':
      throw new EscrowError('task_closed', 'the task is unknown, closed or expired');
    default: {
      const never: never = state;
      throw new Error(`unknown approval state ${String(never)}`);
    }
  }
}

async function requestGrant(svc: ApprovalService, ask: ApprovalAsk, need: ApprovalNeed): Promise<string> {
  const { store } = svc.o;
  const now = svc.o.now();
  const requester = requesterOf(ask.principal);
  const key = requestKey({ taskId: ask.task.id, requester, ...ask });
  const field = `r:${key}`;
  const existing = (await store.tasks.bindings(ask.task.id))[field] ?? null;
  if (existing !== null) {
    const result = await store.transitions.consume(existing, key, now);
    if (result === 'ok') return existing;
    if (result === 'pending') throw waiting(existing, 'request');
    if (result === 'denied') {
      throw new EscrowError('approval_denied', 'a person denied this request', { approvalId: existing });
    }
    if (result === 'overdue') await svc.settle(existing, 'expired');
    // Expired, cancelled, spent, past its window: this request needs a person again.
  }
  const subject = requestSubject(svc, ask, requester, need, now);
  if (await svc.create(subject, key, field, existing, ask.requestId)) throw waiting(subject.id, 'request');
  // A concurrent identical request asked first: wait for that one.
  const winner = (await store.tasks.bindings(ask.task.id))[field];
  throw waiting(winner ?? subject.id, 'request');
}

function requestSubject(
  svc: ApprovalService,
  ask: ApprovalAsk,
  requester: Requester,
  need: ApprovalNeed,
  now: number,
): ApprovalSubject {
  const { limits } = svc.o;
  const ttl = now + limits.ttlSeconds * 1000;
  return {
    id: newApprovalId(),
    kind: 'request',
    requester,
    task: taskOf(ask.task),
    targets: [ask.target],
    action: ask.action as ApprovalSubject['action'],
    method: ask.method,
    path: ask.path,
    query: ask.query,
    queryKeys: ask.queryKeys,
    decisionId: ask.decision.id,
    policies: ask.decision.policies,
    approvalPolicies: need.policies,
    uses: need.uses,
    windowSeconds: need.windowSeconds ?? limits.grantWindowSeconds,
    requestedAt: now,
    // Never past its task (an ambient task's expiry moves with use: only real tasks bound it).
    expiresAt: TASK_ID.test(ask.task.id) ? Math.min(ttl, ask.task.expiresAt) : ttl,
  };
}
