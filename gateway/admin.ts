import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminAuth } from './admin-auth.js';
import { handleAdminTasks } from './admin-tasks.js';
import type { RunningGateway } from './app.js';
import { handleAdminApprovals } from './approvals/index.js';
import { auditState } from './audit/fail-mode.js';
import { EscrowError, toEscrowError } from './errors.js';
import { sendJson, sendProblem } from './http/respond.js';

async function readiness(gw: RunningGateway) {
  const checks: Record<string, string> = {};
  let ready = true;
  try {
    await gw.store.ping();
    checks.store = 'ok';
  } catch {
    checks.store = 'unavailable';
    ready = false;
  }
  checks.revocations = gw.state.subscribed ? 'ok' : 'down';
  if (!gw.state.subscribed) ready = false;
  checks.audit = auditState(gw.audit);
  if (checks.audit === 'unavailable') ready = false;
  // An issuer whose keys never loaded (or are past jwksMaxStaleSeconds) gets every token refused: a replica that
  // cannot verify its agents must not take their traffic (a new replica whose egress to the issuer is broken).
  const unusable = gw.identity.keyStates({ retry: true }).filter((k) => k.state !== 'ok');
  checks.identity = unusable.length === 0 ? 'ok' : unusable.map((k) => `${k.issuer}: ${k.state}`).join(', ');
  if (unusable.length > 0) ready = false;
  checks.policies = gw.policy.policySetHash;
  // A draining replica says so, so that load balancers stop sending it traffic before it closes.
  if (gw.state.draining) {
    checks.lifecycle = 'draining';
    ready = false;
  }
  return { ready, checks };
}

/**
 * The admin listener: `/metrics`, `/healthz` (the process answers), `/readyz` (store reachable, revocations
 * subscribed, audit writable, every issuer's keys usable, policies loaded: the hash of the enforced set), and the
 * kill switch `POST /admin/revoke?principal=<id>|target=<name>|all=true`, and `/admin/tasks` (admin-tasks.ts).
 * Everything but `/healthz`, `/readyz` (and `/metrics`, unless `admin.authenticateMetrics`) needs the admin
 * credential (admin-auth.ts), checked before the path is even looked at.
 */
export async function handleAdmin(
  gw: RunningGateway,
  auth: AdminAuth,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const requestId = 'admin';
  try {
    if (!(req.method === 'GET' && auth.isOpen(url.pathname))) auth.check(req);
    if (req.method === 'GET' && url.pathname === '/metrics') {
      const text = await gw.metrics.exposition();
      res.writeHead(200, { 'content-type': gw.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' }, requestId);
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const { ready, checks } = await readiness(gw);
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks }, requestId);
    }
    if (req.method === 'POST' && url.pathname === '/admin/revoke') {
      const principal = url.searchParams.get('principal');
      const target = url.searchParams.get('target');
      const all = url.searchParams.get('all') === 'true';
      if ([principal !== null, target !== null, all].filter(Boolean).length !== 1) {
        throw new EscrowError('bad_request', 'give exactly one of principal=<id>, target=<name>, all=true');
      }
      const result = await gw.revoker.revokeWhere((task) =>
        all ? true : principal !== null ? task.principal.id === principal : task.targets.includes(target ?? ''),
      );
      gw.log.warn({ principal, target, all, ...result }, 'admin revocation');
      // An operator's action is evidence: the answer waits for its event (and the lease.revoked events before it).
      await gw.audit.commit({
        event: 'admin.revoked',
        requestId,
        decision: 'allow',
        selector: { principal, target, all },
        ...result,
      });
      return sendJson(res, 200, result, requestId);
    }
    if (url.pathname.startsWith('/admin/tasks') && (await handleAdminTasks(gw, req, res, url))) return;
    if (url.pathname.startsWith('/admin/approvals') && (await handleAdminApprovals(gw, req, res, url))) return;
    throw new EscrowError('not_found', 'no such admin endpoint');
  } catch (error) {
    const problem = toEscrowError(error);
    if (problem.code === 'admin_unauthorized') {
      gw.log.warn(
        { path: url.pathname, client: req.socket.remoteAddress, reason: problem.reason },
        'admin call refused',
      );
    }
    sendProblem(res, problem, requestId);
  }
}
