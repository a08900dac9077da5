import type { Decision, Principal } from '../domain.js';
import type { Gateway } from '../gateway.js';
import { clientIp } from '../http/address.js';
import { authorize } from '../pipeline/lib/decide.js';
import { newDecisionId } from '../policy/decide.js';
import type { Approval } from './model.js';

/**
 * May this person decide this approval? Cedar's `approve` on every target that waits, with the agent's request
 * and task and what waits (`context.approval`) in context. One decision per target; any deny refuses, and a
 * target no longer in config denies. The first deny is returned, else the first allow.
 */
export function mayDecide(gw: Gateway, person: Principal, approval: Approval, address: string | undefined): Decision {
  const s = approval.subject;
  const decisions = s.targets.map((name): Decision => {
    const target = gw.targets.get(name);
    if (!target)
      return { id: newDecisionId(), decision: 'deny', policies: [], errors: ['target no longer configured'] };
    return authorize(gw, {
      principal: person,
      action: 'approve',
      target: target.facts,
      method: s.method,
      path: s.path,
      queryKeys: s.queryKeys,
      task: s.task,
      approval: { id: s.id, kind: s.kind, action: s.action, requester: s.requester },
      clientIp: clientIp(address),
    });
  });
  const denied = decisions.find((d) => d.decision !== 'allow');
  return denied ?? decisions[0] ?? { id: newDecisionId(), decision: 'deny', policies: [], errors: ['no target'] };
}
