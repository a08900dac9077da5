import type { IncomingMessage, ServerResponse } from 'node:http';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { sendJson } from '../http/respond.js';
import { APPROVAL_ID } from './model.js';
import { approverView } from './views.js';

const MAX_LIST = 1_000;

/**
 * Operators' view on the admin listener (behind the admin credential): `GET /admin/approvals[?limit=N]` (what
 * waits, soonest expiry first) and `GET /admin/approvals/<id>`. Read only: the admin credential is a deployment's
 * secret, not a person, so it never approves or denies (docs/approvals.md). Returns false for other paths.
 */
export async function handleAdminApprovals(
  gw: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<boolean> {
  if (req.method !== 'GET') return false;
  const now = gw.now();
  if (url.pathname === '/admin/approvals') {
    const limit = Math.min(Number(url.searchParams.get('limit') ?? 100) || 100, MAX_LIST);
    const approvals = (await gw.approvals.pending(limit)).map((approval) => approverView(approval, now));
    sendJson(res, 200, { approvals }, 'admin');
    return true;
  }
  const match = /^\/admin\/approvals\/([^/]+)$/.exec(url.pathname);
  if (!match) return false;
  const approval = APPROVAL_ID.test(match[1]!) ? await gw.approvals.get(match[1]!) : null;
  if (!approval) throw new EscrowError('approval_not_found', 'no such approval');
  sendJson(res, 200, approverView(approval, now), 'admin');
  return true;
}
