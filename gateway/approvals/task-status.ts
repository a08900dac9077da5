import { type PrincipalRef, samePrincipal } from '../domain.js';
import type { Gateway } from '../gateway.js';
import { leaseView } from '../leases/record.js';
import { TASK_ID, taskView } from '../tasks/model.js';
import { visibleState } from './model.js';
import { longPoll, type Polled } from './poll.js';
import { TASK_STATE } from './tasks.js';
import { requesterView } from './views.js';

type Status = Polled;

/** A live task as its owner sees it: `active`, or its approval's state, with its leases once active. */
async function liveStatus(gw: Gateway, id: string, principal: PrincipalRef): Promise<Status | null> {
  const task = await gw.tasks.get(id);
  if (!task) return closedStatus(gw, id, principal);
  if (!samePrincipal(task.principal, principal)) return null;
  const now = gw.now();
  const approval = task.approval === undefined ? undefined : await gw.approvals.get(task.approval);
  const state = task.approval === undefined ? 'active' : approval ? TASK_STATE[visibleState(approval, now)] : 'expired';
  const leases = state === 'active' ? (await gw.leases.list(task.id, task.targets)).map((l) => leaseView(l, now)) : [];
  return {
    body: {
      ...taskView(task),
      state,
      ...(approval ? { approvalId: approval.subject.id, approval: requesterView(approval, now) } : {}),
      leases,
    },
    pending: state === 'pending',
    ...(approval ? { wakeAt: approval.subject.expiresAt } : {}),
  };
}

/** A task that is gone but waited for a person: its approval tells the agent why (denied, expired, closed). */
async function closedStatus(gw: Gateway, id: string, principal: PrincipalRef): Promise<Status | null> {
  if (!TASK_ID.test(id)) return null;
  const approvalId = (await gw.approvals.o.store.tasks.bindings(id)).task;
  const approval = approvalId === undefined ? null : await gw.approvals.get(approvalId);
  if (!approval || !samePrincipal(approval.subject.requester, principal)) return null;
  const state = TASK_STATE[visibleState(approval, gw.now())];
  return {
    body: {
      id,
      state: state === 'active' || state === 'pending' ? 'closed' : state,
      approvalId: approval.subject.id,
      approval: requesterView(approval, gw.now()),
    },
    pending: false,
  };
}

/**
 * `GET /_escrow/tasks/<id>[?wait=30s]`: the task, its state (`pending`, `active`, `denied`, `expired`, `closed`)
 * and its leases. With `wait`, a pending task's answer is held until its state changes (a decision on any replica,
 * its expiry) or the wait ends. Null when the caller has no such task (404).
 */
export function taskStatus(gw: Gateway, id: string, principal: PrincipalRef, query: string) {
  return longPoll(gw.approvals, [`task:${id}`], query, () => liveStatus(gw, id, principal));
}
