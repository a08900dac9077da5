import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  handleApprovalApi,
  openedState,
  requestTaskApproval,
  requireParentApproved,
  taskStatus,
} from './approvals/index.js';
import { type Decision, type PrincipalRef, principalRef, samePrincipal, type Task, taskRef } from './domain.js';
import { EscrowError } from './errors.js';
import type { Gateway } from './gateway.js';
import { clientIp } from './http/address.js';
import { checkRequestHeaders } from './http/headers.js';
import { readJson, sendJson } from './http/respond.js';
import type { Route } from './http/route.js';
import { identify } from './pipeline/identify.js';
import { authorize } from './pipeline/lib/decide.js';
import { principalHash } from './tasks/model.js';

const chainOf = (task: Task) => ({ ...taskRef(task), intent: task.intent });

/**
 * Escrow's own API: `POST /_escrow/tasks`, `GET|DELETE /_escrow/tasks/<id>`, and `/_escrow/approvals`
 * (gateway/approvals/api.ts). Every call is made with the caller's workload identity; a task is visible only to
 * the principal that opened it (others get 404).
 */
export async function handleTaskApi(
  gw: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  requestId: string,
): Promise<void> {
  const parts = route.rest.split('/').filter(Boolean);
  if (parts[0] === 'approvals') return handleApprovalApi(gw, req, res, parts, route.query, requestId);
  if (parts[0] !== 'tasks' || parts.length > 2) throw new EscrowError('not_found', 'no such Escrow API');
  checkRequestHeaders(req);
  const method = req.method ?? '';
  const allowed = parts.length === 1 ? ['POST'] : ['GET', 'DELETE'];
  if (!allowed.includes(method)) throw new EscrowError('method_not_allowed', `use ${allowed.join(' or ')} here`);
  const ip = clientIp(req.socket.remoteAddress);
  const principal = await identify(gw, req, requestId, ip);

  if (parts.length === 1) {
    if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    const body = await readJson(req);
    await requireParentApproved(gw, body, principal);
    const asked: { target: string; decision: Decision }[] = [];
    const opening = gw.tasks.open(principal, body, (name, draft) => {
      const target = gw.targets.get(name)!;
      const decision = authorize(gw, {
        principal,
        action: 'openTask',
        target: target.facts,
        method,
        path: route.rest,
        queryKeys: [],
        // The task as it would open: no id yet, age 0.
        task: { id: '', intent: draft.intent, targets: draft.targets, depth: draft.depth, openedAt: gw.now() },
        clientIp: ip,
      });
      asked.push({ target: name, decision });
      return decision;
    });
    const { task, decisions } = await opening.catch(async (error: unknown) => {
      // A refusal by policy is evidence too: the 403's decision id must be found in the trail.
      const denied = asked.find((a) => a.decision.decision !== 'allow');
      if (error instanceof EscrowError && error.code === 'policy_denied' && denied) {
        await gw.audit.commit({
          event: 'request',
          requestId,
          decisionId: denied.decision.id,
          decision: 'deny',
          policies: denied.decision.policies,
          principal: principalRef(principal),
          target: denied.target,
          method,
          path: '/_escrow/tasks',
          status: error.status,
          reason: error.code,
        });
      }
      throw error;
    });
    // The 201 goes out only once the task's opening is in the trail (group commit).
    await gw.audit.commit({
      event: 'task.opened',
      requestId,
      decisionId: decisions.map((d) => d.id).join(','),
      decision: 'allow',
      policies: [...new Set(decisions.flatMap((d) => d.policies))],
      principal: principalRef(principal),
      task: chainOf(task),
      targets: task.targets,
      expiresAt: new Date(task.expiresAt).toISOString(),
      ...(task.approval ? { state: 'pending', approvalId: task.approval } : {}),
    });
    // A task that policy says waits for a person: 202, pending, with the approval to wait on.
    const approval = task.approval ? await requestTaskApproval(gw, task, principal, decisions, requestId) : undefined;
    const opened = openedState(approval, gw.now());
    sendJson(
      res,
      opened.status,
      {
        id: task.id,
        expiresAt: new Date(task.expiresAt).toISOString(),
        targets: task.targets,
        parent: task.parent ?? null,
        ...opened.body,
      },
      requestId,
    );
    return;
  }

  if (method === 'GET') {
    // The task's state and leases; `?wait=30s` holds a pending task's answer until it changes.
    const status = await taskStatus(gw, parts[1]!, principal, route.query);
    if (!status) throw new EscrowError('task_not_found', 'no such live task');
    sendJson(res, 200, status, requestId);
    return;
  }
  // Closing is idempotent: the owner may close (or retry closing) a task that is already closed or expired, as
  // long as the store remembers it, and gets 204 once every step went through. Anyone else gets 404.
  const found = await findForClose(gw, parts[1]!, principal);
  if (!found || !samePrincipal(found.task.principal, principal)) {
    throw new EscrowError('task_not_found', 'no such task');
  }
  const { task } = found;
  const revoked = await gw.revoker.revokeTask(task.id, 'task_closed', principalHash(task.principal));
  await gw.audit.commit({
    event: 'task.closed',
    requestId,
    principal: principalRef(principal),
    task: chainOf(task),
    leasesRevoked: revoked,
    ...(found.closed ? { repeated: true } : {}),
  });
  res.writeHead(204, { 'x-request-id': requestId });
  res.end();
}

/**
 * The task to close. If the store cannot be read, the close is not dropped: it is retried in the background (as
 * the agent that asked, so only its own task is closed) and the agent gets 503 `close_pending`.
 */
async function findForClose(gw: Gateway, id: string, principal: PrincipalRef) {
  try {
    return await gw.tasks.find(id);
  } catch (cause) {
    gw.revoker.closing.defer(id, async () => {
      const found = await gw.tasks.find(id);
      if (!found || !samePrincipal(found.task.principal, principal)) return;
      // From here the close is a job of its own, retried until done: its failure needs no second retry.
      await gw.revoker.revokeTask(id, 'task_closed', principalHash(found.task.principal)).catch(() => {});
    });
    throw new EscrowError('store_unavailable', 'the close is not confirmed yet; Escrow keeps retrying it', {
      cause,
      reason: 'close_pending',
    });
  }
}
