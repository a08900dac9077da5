import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AuditEventInput } from '../audit/types.js';
import { type Building, principalRef, taskRef } from '../domain.js';
import { type EscrowError, toEscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import type { Admission } from './admission.js';
import type { Exchange } from './exchange.js';

/** Group commit: the answer completes only once its audit event is written by every sink (or it is refused). */
export function commitExchange(gw: Gateway, req: IncomingMessage, ex: Exchange, fallbackStatus: number) {
  ex.audited = true;
  return gw.audit.commit(auditEvent(req, ex, fallbackStatus));
}

/** An error answer waits for its event too; if the trail cannot take it, the agent gets 503 instead. */
export async function commitBeforeAnswer(gw: Gateway, req: IncomingMessage, ex: Exchange, fallbackStatus: number) {
  if (ex.error?.code === 'audit_unavailable') return; // the trail is what failed: say so at once
  try {
    await commitExchange(gw, req, ex, fallbackStatus);
  } catch (error) {
    ex.error = toEscrowError(error);
  }
}

/**
 * Stage 9, in the pipeline's `finally`: metrics, and the audit event unless the answer already committed it, for
 * every request and upgrade that reached a target.
 */
export function record(gw: Gateway, req: IncomingMessage, ex: Exchange, fallbackStatus: number): void {
  const end = performance.now();
  const target = ex.target!.config.name;
  const status = ex.mcp?.answeredStatus ?? ex.error?.status ?? ex.forward.status ?? fallbackStatus;
  const decision = ex.decision?.decision ?? 'deny';
  gw.metrics.requestsTotal.inc({ target, decision, code_class: `${Math.floor(status / 100)}xx` });
  const dispatched = ex.forward.dispatchedAt ?? end;
  gw.metrics.requestDuration.observe({ target, phase: 'gateway' }, (dispatched - ex.startedAt) / 1000);
  if (ex.forward.dispatchedAt !== undefined) {
    gw.metrics.requestDuration.observe({ target, phase: 'upstream' }, (end - dispatched) / 1000);
  }
  if (!ex.audited) gw.audit.record(auditEvent(req, ex, fallbackStatus));
}

/** The exchange's audit event as it stands (status: the error's, else the upstream's). */
function auditEvent(req: IncomingMessage, ex: Exchange, fallbackStatus: number): AuditEventInput {
  const status = ex.error?.status ?? ex.forward.status ?? fallbackStatus;
  const event = requestEvent(ex, ex.target!.config.name, req.method ?? '', ex.path, status, ex.error);
  if (ex.upgrade) event.upgrade = 'websocket';
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
): Building<AuditEventInput> {
  // Members set one by one in the order the audit line shows them (no object spreads: this runs per request).
  const e: Building<AuditEventInput> = {
    event: 'request',
    requestId: a.requestId,
  };
  if (a.decision) {
    e.decisionId = a.decision.id;
    e.decision = a.decision.decision;
    e.policies = a.decision.policies;
  } else {
    e.decision = 'deny';
  }
  if (a.principal) e.principal = principalRef(a.principal);
  if (a.task) e.task = taskRef(a.task);
  e.target = target;
  if (a.lease) {
    e.leaseId = a.lease.id;
    e.secretFingerprint = a.lease.fingerprint;
  }
  const approvalId = error?.approvalId ?? a.approvalId;
  if (approvalId) e.approvalId = approvalId;
  e.method = method;
  if (path) e.path = path;
  e.status = status;
  if (error) e.reason = error.reason ?? error.code;
  return e;
}
