import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { UpstreamRequest } from '../../adapters/types.js';
import { admitApproval } from '../approvals/index.js';
import { requireAudit } from '../audit/index.js';
import type { AuditEventInput } from '../audit/types.js';
import { bindConnection, type CutReason } from '../connections.js';
import { type Action, actionForMethod, type Decision, type Principal, principalRef, type Task } from '../domain.js';
import { EscrowError, toEscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { checkRequestHeaders, upstreamHeaders } from '../http/headers.js';
import { sendProblem } from '../http/respond.js';
import { parseRoute, queryKeys, type Route } from '../http/route.js';
import { randomId } from '../ids.js';
import type { LeaseRecord } from '../leases/record.js';
import { admitPrincipal, countLimit } from '../limits.js';
import { type McpExchange, openMcpExchange } from '../mcp/exchange.js';
import { pathOptions, type TargetRuntime, upstreamPath } from '../targets.js';
import { handleTaskApi } from '../task-api.js';
import { ambientTask as ambientTaskFor } from '../tasks/ambient.js';
import { authorize, clientIp, requireAllow } from './authorize.js';
import { type ForwardOutcome, forwardAndScrub } from './forward.js';
import { identify } from './identify.js';
import { requestBody } from './lib/body.js';
import { cutError, cutRequest } from './lib/cut.js';

/** What stages 2–5 establish about a request. Filled in as they pass, so a failure still records what was known. */
export interface Admission {
  readonly requestId: string;
  /** `gw.connections.seq` before the task was read: a close notice after it cuts the connection at once. */
  seenSeq?: number;
  principal?: Principal;
  task?: Task;
  decision?: Decision;
  /** The approval a person gave this request or its task (gateway/approvals/), for the audit trail. */
  approvalId?: string;
  lease?: LeaseRecord;
}

/** What one request accumulates on its way through the stages; the `finally` records it. */
interface Exchange extends Admission {
  readonly startedAt: number;
  /** Set when the task's close, expiry or a kill switch cut this request in flight. */
  cut?: CutReason;
  /** undici's abort signal for the upstream request (an EventEmitter: cheaper than an AbortController). */
  readonly abort: EventEmitter;
  target?: TargetRuntime;
  path?: string;
  error?: EscrowError;
  forward: ForwardOutcome;
  /** Set once the request's audit event is recorded: before the answer's end, or in the `finally`. */
  audited?: boolean;
  /** The caller's address, taken at once (`req.socket` is gone once the connection closes). */
  readonly client: string;
  /** Set for MCP targets: the protocol's hooks into stages 4, 6 and 8 and into failure answers (gateway/mcp/). */
  mcp?: McpExchange;
}

/** What is being asked of which target. */
export interface Ask {
  readonly target: TargetRuntime;
  readonly action: Action;
  /** The upstream path (what policy sees, byte for byte what is sent). */
  readonly path: string;
  readonly query: string;
  /** An MCP target's request: stage 4 decides each of its JSON-RPC calls instead of the HTTP method. */
  readonly mcp?: McpExchange;
}

/**
 * Stages 2–5, shared by plain requests and WebSocket upgrades: identify the caller, take a concurrency slot,
 * resolve the task, ask Cedar, check that nothing of it waits for a person, and only then get-or-issue the lease.
 * Throws the matching EscrowError.
 */
export async function admit(
  gw: Gateway,
  req: IncomingMessage,
  owner: Parameters<typeof admitPrincipal>[2],
  ask: Ask,
  into: Admission,
): Promise<void> {
  const { target } = ask;
  into.seenSeq = gw.connections.seq;
  into.principal = await identify(gw, req, into.requestId, target.config.identityHeader);
  admitPrincipal(gw, into.principal, owner);
  into.task = await taskFor(gw, req, into.principal, target);
  into.decision = ask.mcp
    ? await ask.mcp.authorize(into)
    : authorize(gw, {
        principal: into.principal,
        action: ask.action,
        target: target.facts,
        method: req.method ?? 'GET',
        path: ask.path,
        queryKeys: queryKeys(ask.query),
        ...(into.task ? { task: into.task } : {}),
        clientIp: clientIp(req.socket.remoteAddress),
      });
  requireAllow(into.decision);
  const task = into.task ?? ambientTask(gw, into.principal, target);
  // No lease while the task or this very request waits for a person.
  into.approvalId = await admitApproval(gw.approvals, {
    task,
    principal: into.principal,
    decision: into.decision,
    target: target.config.name,
    action: ask.action,
    method: req.method ?? 'GET',
    path: ask.path,
    query: ask.query,
    queryKeys: queryKeys(ask.query),
    requestId: into.requestId,
  });
  into.lease = await gw.leases.acquire({
    task,
    target: target.config.name,
    adapter: target.adapter,
    ttlSeconds: target.config.credential.ttl,
    principal: into.principal,
    decisionId: into.decision.id,
    requestId: into.requestId,
  });
}

function methodAction(method: string | undefined): Action {
  const action = actionForMethod(method ?? '');
  if (!action) throw new EscrowError('method_not_allowed', `method ${method ?? '?'} is not proxied`);
  return action;
}

/**
 * The pipeline for one request. The order is the security argument: the request target is checked before
 * any token is looked at; nothing is evaluated for an unverified caller; the task is resolved before policy
 * (policy sees it); a credential is touched only after an allow, and after a person's approval where policy asks
 * for one; the agent's headers are stripped before the adapter injects; the response is scrubbed before the agent
 * sees a byte. Audit and metrics run in `finally`, on every path.
 */
export async function handleRequest(gw: Gateway, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ex: Exchange = {
    requestId: randomId('req_', 9, 'base64url'),
    startedAt: performance.now(),
    forward: {},
    abort: new EventEmitter(),
    client: clientIp(req.socket.remoteAddress),
  };
  try {
    const route = parseRoute(req.url ?? '', (name) => pathOptions(gw.targets, name));
    if (route.target === '_escrow') {
      requireAudit(gw.audit);
      return await handleTaskApi(gw, req, res, route, ex.requestId);
    }
    const target = gw.targets.get(route.target);
    // A postgres target is reached on its own listener, never over HTTP.
    if (!target || target.config.protocol === 'postgres') throw new EscrowError('unknown_target', 'no such target');
    ex.target = target;
    ex.path = upstreamPath(target, route.rest);
    requireAudit(gw.audit);
    const action = methodAction(req.method);
    checkRequestHeaders(req);
    ex.mcp = openMcpExchange(gw, req, res, target, route, ex.requestId);
    await admit(gw, req, res, { target, action, path: ex.path, query: route.query, mcp: ex.mcp }, ex);
    // The task's close, expiry or a kill switch stops this request wherever it is (pipeline/lib/cut.ts).
    const unbind = bindConnection(gw.connections, ex, (reason) => cutRequest(res, ex, reason));
    res.once('close', unbind);
    await proxy(gw, req, res, target, route, ex);
  } catch (error) {
    ex.error = ex.cut ? cutError(ex.cut) : toEscrowError(error);
    countLimit(gw.metrics, ex.error);
    if (ex.error.code === 'internal') gw.log.error({ requestId: ex.requestId, err: ex.error.cause }, 'request failed');
    // A cut before the answer began has already told the agent why.
    if (ex.cut && res.writableEnded) return;
    if (ex.target && !res.headersSent) await commitBeforeAnswer(gw, req, res, ex);
    if (!ex.mcp?.answer(res, ex.error)) sendProblem(res, ex.error, ex.requestId);
  } finally {
    if (ex.target) record(gw, req, res, ex);
  }
}

/** Stage 3: the task named in `X-Escrow-Task`, which must belong to this principal and list this target. */
export async function taskFor(gw: Gateway, req: IncomingMessage, principal: Principal, target: TargetRuntime) {
  const values = req.headersDistinct['x-escrow-task'];
  if (values === undefined || values.length === 0) {
    if (target.config.requireTask) throw new EscrowError('task_required', 'this target needs an X-Escrow-Task header');
    return undefined;
  }
  if (values.length > 1) throw new EscrowError('bad_request', 'exactly one X-Escrow-Task header is allowed');
  return gw.tasks.forRequest(values[0]!.trim(), principal, target.config.name);
}

/**
 * Targets with `requireTask: false` still get leases scoped to one principal and one target: an implicit task
 * per (principal, target) whose life is the credential's ttl (renewed on use). Meant for static secrets only.
 */
export function ambientTask(gw: Gateway, principal: Principal, target: TargetRuntime): Task {
  return ambientTaskFor(principal, target.config.name, target.config.credential.ttl, gw.now());
}

/** Stages 6–8: strip, inject, forward, scrub. */
async function proxy(
  gw: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
  target: TargetRuntime,
  route: Route,
  ex: Exchange,
) {
  const lease = ex.lease!;
  if (req.headers.expect?.toLowerCase() === '100-continue' && !ex.mcp) res.writeContinue();
  // An MCP request's body was read (and decided) at stage 4.
  const body = ex.mcp
    ? { buffer: ex.mcp.body }
    : await requestBody(req, target.config.limits.maxBodyBytes, target.adapter.needsBody === true);
  const headers = upstreamHeaders(req, {
    tokenHeaders: target.tokenHeaders,
    forwarded: gw.config.proxy.forwardedHeaders,
  });
  headers['x-request-id'] = ex.requestId;
  if (body.buffer) headers['content-length'] = String(body.buffer.length);
  const upstream: UpstreamRequest = {
    method: req.method!,
    path: ex.path! + route.query,
    headers,
    ...(body.buffer ? { body: body.buffer } : {}),
  };
  // Every value that goes on the wire is a needle before the first response byte is scanned: the lease's credential
  // is pinned (an eviction from the lease cache cannot unmask this response), and so is what the adapter derived.
  const unpin = gw.secrets.pin(lease.credential);
  const derived = target.adapter.inject(upstream, lease.credential);
  const unpinDerived = gw.secrets.pinDerived(Array.isArray(derived) ? derived : []);
  try {
    await forwardAndScrub(
      gw,
      res,
      target,
      { method: upstream.method, path: upstream.path, headers: upstream.headers, body: body.buffer ?? body.stream },
      ex.forward,
      ex.abort,
      () => commitRequest(gw, req, res, ex),
      ex.mcp,
    );
  } finally {
    unpinDerived();
    unpin();
  }
}

/** Group commit: the answer completes only once its audit event is written by every sink (or it is refused). */
function commitRequest(gw: Gateway, req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> {
  ex.audited = true;
  return gw.audit.commit(auditEvent(req, res, ex));
}

/** An error answer waits for its event too; if the trail cannot take it, the agent gets 503 instead. */
async function commitBeforeAnswer(gw: Gateway, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  if (ex.error?.code === 'audit_unavailable') return; // the trail is what failed: say so at once
  try {
    await commitRequest(gw, req, res, ex);
  } catch (error) {
    ex.error = toEscrowError(error);
  }
}

/** Stage 9: metrics, and the audit event unless the answer already committed it, for every proxied request. */
function record(gw: Gateway, req: IncomingMessage, res: ServerResponse, ex: Exchange): void {
  const end = performance.now();
  const target = ex.target!.config.name;
  const status = ex.mcp?.answeredStatus ?? ex.error?.status ?? ex.forward.status ?? res.statusCode;
  const decision = ex.decision?.decision ?? 'deny';
  gw.metrics.requestsTotal.inc({ target, decision, code_class: `${Math.floor(status / 100)}xx` });
  const dispatched = ex.forward.dispatchedAt ?? end;
  gw.metrics.requestDuration.observe({ target, phase: 'gateway' }, (dispatched - ex.startedAt) / 1000);
  if (ex.forward.dispatchedAt !== undefined) {
    gw.metrics.requestDuration.observe({ target, phase: 'upstream' }, (end - dispatched) / 1000);
  }
  if (!ex.audited) gw.audit.record(auditEvent(req, res, ex));
}

/** The request's audit event as it stands (status: the error's, else the upstream's). */
function auditEvent(req: IncomingMessage, res: ServerResponse, ex: Exchange): AuditEventInput {
  const status = ex.error?.status ?? ex.forward.status ?? res.statusCode;
  const event = requestEvent(ex, ex.target!.config.name, req.method ?? '', ex.path, status, ex.error) as {
    -readonly [K in keyof AuditEventInput]: AuditEventInput[K];
  };
  event.client = ex.client;
  const traceparent = req.headers.traceparent;
  if (typeof traceparent === 'string' && /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/.test(traceparent)) {
    event.traceparent = traceparent;
  }
  return event;
}

/** The `request` audit event of one admission (plain request or WebSocket upgrade), whatever happened to it. */
export function requestEvent(
  a: Admission,
  target: string,
  method: string,
  path: string | undefined,
  status: number,
  error: EscrowError | undefined,
): AuditEventInput {
  const decision = a.decision?.decision ?? 'deny';
  return {
    event: 'request',
    requestId: a.requestId,
    ...(a.decision ? { decisionId: a.decision.id, decision, policies: a.decision.policies } : { decision: 'deny' }),
    ...(a.principal ? { principal: principalRef(a.principal) } : {}),
    ...(a.task ? { task: { id: a.task.id, chain: [...a.task.ancestors, a.task.id] } } : {}),
    target,
    ...(a.lease ? { leaseId: a.lease.id, secretFingerprint: a.lease.fingerprint } : {}),
    ...(a.approvalId ? { approvalId: a.approvalId } : {}),
    ...(error?.approvalId ? { approvalId: error.approvalId } : {}),
    method,
    ...(path ? { path } : {}),
    status,
    ...(error ? { reason: error.reason ?? error.code } : {}),
  };
}
