import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Principal, samePrincipal } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { clientIp } from '../http/address.js';
import { checkRequestHeaders } from '../http/headers.js';
import { readJson, sendJson } from '../http/respond.js';
import { identify } from '../pipeline/identify.js';
import { mayDecide } from './authorize.js';
import { decide } from './decide.js';
import { APPROVAL_ID, type Approval, visibleState } from './model.js';
import { longPoll } from './poll.js';
import { approverView, requesterView } from './views.js';

/** The most pending approvals one list answer considers. */
const MAX_LIST = 200;

/**
 * `/_escrow/approvals` on the proxy listener, with the caller's own identity:
 * - `GET /_escrow/approvals` (a person): what waits that this person may decide;
 * - `GET /_escrow/approvals/<id>[?wait=30s]`: the agent that asked sees its state, a person who may decide sees
 *   what waits; anyone else gets 404 (ids are not an oracle);
 * - `POST /_escrow/approvals/<id>` `{"decision": "approve"|"deny", "comment"?}` (a person): decide.ts.
 */
export async function handleApprovalApi(
  gw: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
  parts: readonly string[],
  query: string,
  requestId: string,
): Promise<void> {
  if (parts.length > 2) throw new EscrowError('not_found', 'no such Escrow API');
  checkRequestHeaders(req);
  const method = req.method ?? '';
  const allowed = parts.length === 1 ? ['GET'] : ['GET', 'POST'];
  if (!allowed.includes(method)) throw new EscrowError('method_not_allowed', `use ${allowed.join(' or ')} here`);
  const principal = await identify(gw, req, requestId, clientIp(req.socket.remoteAddress));
  const address = req.socket.remoteAddress;
  if (parts.length === 1) return sendJson(res, 200, await listFor(gw, principal, address), requestId);
  const id = parts[1]!;
  if (method === 'POST') {
    if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    const body = await readJson(req);
    return sendJson(res, 200, await decide(gw, id, principal, body, { requestId, address }), requestId);
  }
  const view = await longPoll(gw.approvals, [`approval:${id}`], query, async () => {
    const approval = APPROVAL_ID.test(id) ? await gw.approvals.get(id) : null;
    const body = approval ? viewFor(gw, approval, principal, address) : null;
    if (!approval || !body) return null;
    const pending = visibleState(approval, gw.now()) === 'pending';
    return { body, pending, wakeAt: approval.subject.expiresAt };
  });
  if (!view) throw new EscrowError('approval_not_found', 'no such approval');
  sendJson(res, 200, view, requestId);
}

/** The requester's view for the agent that asked, the approver's for a person who may decide, else nothing. */
function viewFor(gw: Gateway, approval: Approval, caller: Principal, address: string | undefined) {
  const now = gw.now();
  if (samePrincipal(approval.subject.requester, caller)) return requesterView(approval, now);
  if (caller.type !== 'Human') return null;
  return mayDecide(gw, caller, approval, address).decision === 'allow' ? approverView(approval, now) : null;
}

async function listFor(gw: Gateway, person: Principal, address: string | undefined) {
  if (person.type !== 'Human') {
    throw new EscrowError('approval_forbidden', 'only a person (a Human principal) lists approvals', {
      reason: 'not_human',
    });
  }
  const now = gw.now();
  const approvals = [];
  for (const approval of await gw.approvals.pending(MAX_LIST)) {
    if (samePrincipal(approval.subject.requester, person)) continue;
    if (mayDecide(gw, person, approval, address).decision === 'allow') approvals.push(approverView(approval, now));
  }
  return { approvals };
}
