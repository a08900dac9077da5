import type { Decision, Principal, Task } from '../domain.js';
import { samePrincipal } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { TASK_ID } from '../tasks/model.js';
import { requesterOf, requireTaskApproved, taskOf } from './agent.js';
import { type Approval, type ApprovalSubject, newApprovalId } from './model.js';
import { requesterView } from './views.js';

/** `TaskService.open`'s hook: the approval a new task waits for, when any `openTask` allow asked for a person. */
export function approvalForOpen(decisions: readonly Decision[]): string | undefined {
  return decisions.some((d) => d.approval !== undefined) ? newApprovalId() : undefined;
}

/**
 * A step may not start under a parent that still waits (its own `approval_required` names the parent's approval).
 * Only the parent's owner learns anything here; anyone else's parent is left to `TaskService.open` (404-like).
 */
export async function requireParentApproved(gw: Gateway, body: unknown, principal: Principal): Promise<void> {
  const parentId = (body as { parent?: unknown } | null)?.parent;
  if (typeof parentId !== 'string' || !TASK_ID.test(parentId)) return;
  const parent = await gw.tasks.get(parentId);
  if (parent?.approval !== undefined && samePrincipal(parent.principal, principal)) {
    await requireTaskApproved(gw.approvals, parent);
  }
}

/**
 * Ask a person to approve the task just opened (state `pending`): audited, listed, announced. Should that fail, the
 * task is closed again: a task nobody can approve must not hold a slot.
 */
export async function requestTaskApproval(
  gw: Gateway,
  task: Task,
  principal: Principal,
  decisions: readonly Decision[],
  requestId: string,
): Promise<Approval> {
  const svc = gw.approvals;
  const now = svc.o.now();
  const asking = decisions.filter((d) => d.approval !== undefined);
  const subject: ApprovalSubject = {
    id: task.approval!,
    kind: 'task',
    requester: requesterOf(principal),
    task: taskOf(task),
    targets: task.targets.filter((_, i) => decisions[i]?.approval !== undefined),
    action: 'openTask',
    method: 'POST',
    path: '/tasks',
    query: '',
    queryKeys: [],
    decisionId: decisions.map((d) => d.id).join(','),
    policies: [...new Set(decisions.flatMap((d) => d.policies))],
    approvalPolicies: [...new Set(asking.flatMap((d) => d.approval!.policies))],
    uses: 1,
    windowSeconds: 0,
    requestedAt: now,
    expiresAt: Math.min(now + svc.o.limits.ttlSeconds * 1000, task.expiresAt),
  };
  try {
    if (!(await svc.create(subject, '', 'task', null, requestId))) {
      throw new EscrowError('internal', 'a new task already had an approval');
    }
  } catch (error) {
    await svc.o.closeTask(task.id).catch(() => {});
    throw error;
  }
  return { subject, state: 'pending' };
}

/** A task's state from its approval's. */
const TASK_STATE = {
  pending: 'pending',
  approved: 'active',
  denied: 'denied',
  expired: 'expired',
  cancelled: 'closed',
} as const;

/** What `POST /_escrow/tasks` adds to its answer: `201` active, or `202` pending with the approval to wait on. */
export function openedState(approval: Approval | undefined, now: number) {
  if (!approval) return { status: 201, body: { state: 'active' } };
  return {
    status: 202,
    body: { state: 'pending', approvalId: approval.subject.id, approval: requesterView(approval, now) },
  };
}

export { TASK_STATE };
