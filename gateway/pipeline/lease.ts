import type { IncomingMessage } from 'node:http';
import { admitApproval } from '../approvals/index.js';
import type { Soon, Task } from '../domain.js';
import type { Gateway } from '../gateway.js';
import type { LeaseRecord } from '../leases/record.js';
import type { Admission } from './admission.js';
import type { Ask } from './exchange.js';
import { ambientTask } from './task.js';

/**
 * Stage 5: get-or-issue the lease for (task, target): for the named task, else the principal's ambient one. No
 * lease while the task or this very request waits for a person: their approval is checked first.
 */
export function lease(gw: Gateway, req: IncomingMessage, ask: Ask, into: Admission): Soon<LeaseRecord> {
  const { target } = ask;
  const principal = into.principal!;
  const decision = into.decision!;
  const task = into.task ?? ambientTask(gw, principal, target);
  // Most requests need no person (no task approval to check, no `@approval` policy among the decision's), and
  // find their lease in the cache: a map lookup, answered at once.
  const needsPerson = task.approval !== undefined || decision.approval !== undefined;
  if (!needsPerson) {
    into.approvalId = undefined;
    const cached = gw.leases.cached(task, target.config.name);
    if (cached !== undefined) {
      into.lease = cached;
      return cached;
    }
  }
  return leaseLater(gw, req, ask, into, task, needsPerson);
}

async function leaseLater(
  gw: Gateway,
  req: IncomingMessage,
  ask: Ask,
  into: Admission,
  task: Task,
  needsPerson: boolean,
): Promise<LeaseRecord> {
  const { target } = ask;
  const principal = into.principal!;
  const decision = into.decision!;
  into.approvalId = !needsPerson
    ? undefined
    : await admitApproval(gw.approvals, {
        task,
        principal,
        decision,
        target: target.config.name,
        action: ask.action,
        method: req.method ?? 'GET',
        path: ask.path,
        query: ask.query,
        queryKeys: ask.queryKeys,
        requestId: into.requestId,
      });
  into.lease = await gw.leases.acquire({
    task,
    target: target.config.name,
    adapter: target.adapter,
    ttlSeconds: target.config.credential.ttl,
    principal,
    decisionId: decision.id,
    requestId: into.requestId,
  });
  return into.lease;
}
