import { request as httpRequest, type IncomingMessage, STATUS_CODES } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type Duplex, pipeline } from 'node:stream';
import type { UpstreamRequest } from '../../../adapters/types.js';
import { requireAudit } from '../../audit/index.js';
import { bindConnection } from '../../connections.js';
import type { Decision, Principal, Task } from '../../domain.js';
import { EscrowError, PROBLEM_CONTENT_TYPE, toEscrowError, toProblem } from '../../errors.js';
import type { Gateway } from '../../gateway.js';
import { checkRequestHeaders, responseHeaders, upstreamHeaders } from '../../http/headers.js';
import { parseRoute } from '../../http/route.js';
import { randomId } from '../../ids.js';
import type { LeaseRecord } from '../../leases/record.js';
import { countLimit } from '../../limits.js';
import { upstreamError } from '../../proxy/forward.js';
import { ScrubStream } from '../../proxy/scrub.js';
import { WebSocketScrubber } from '../../proxy/ws-frames.js';
import type { NeedleIndex } from '../../scrub/index.js';
import { pathOptions, type TargetRuntime, upstreamPath } from '../../targets.js';
import { clientIp } from '../authorize.js';
import { admit as admitRequest, requestEvent } from '../index.js';
import { finishResponseHeaders } from '../scrub.js';

/** What one upgrade accumulates; recorded in `finally` like a proxied request. */
interface Upgrade {
  readonly requestId: string;
  seenSeq?: number;
  target?: TargetRuntime;
  path?: string;
  query?: string;
  principal?: Principal;
  task?: Task;
  decision?: Decision;
  lease?: LeaseRecord;
  status?: number;
  headSent?: boolean;
  error?: EscrowError;
  /** Set once the upgrade's audit event is recorded: before the answer is written, or in the `finally`. */
  audited?: boolean;
  client?: string;
}

/**
 * The `upgrade` listener. Every upgrade runs the same stages as a request (route → identify → task →
 * authorize as `connect` → lease), then the credential is injected on the upgrade request only. Targets
 * without `websocket: true`, Escrow's own API and anything but `GET` + `Upgrade: websocket` are refused.
 */
export async function handleUpgrade(gw: Gateway, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const up: Upgrade = { requestId: randomId('req_', 9, 'base64url'), client: clientIp(req.socket.remoteAddress) };
  // One socket carries the upgrade, its admission, its binding to the task and two pipelines: more than the
  // default ten 'close' listeners, none of them leaked (they go with the socket).
  socket.setMaxListeners(20);
  socket.on('error', () => socket.destroy());
  try {
    await admit(gw, req, socket, up);
    // The session lives no longer than its task and lease: their close, expiry or a kill switch cuts both sides.
    const unbind = bindConnection(gw.connections, up, () => socket.destroy());
    socket.once('close', unbind);
    await connectUpstream(gw, req, socket, head, up);
  } catch (error) {
    up.error = toEscrowError(error);
    countLimit(gw.metrics, up.error);
    if (up.error.code === 'internal') gw.log.error({ requestId: up.requestId, err: up.error.cause }, 'upgrade failed');
    if (up.target && !up.headSent && up.error.code !== 'audit_unavailable') {
      await commit(gw, up).catch((error: unknown) => {
        up.error = toEscrowError(error);
      });
    }
    if (up.headSent || !socket.writable) socket.destroy();
    else writeProblem(socket, up.error, up.requestId);
  } finally {
    if (up.target) record(gw, up);
  }
}

async function admit(gw: Gateway, req: IncomingMessage, socket: Duplex, up: Upgrade): Promise<void> {
  const route = parseRoute(req.url ?? '', (name) => pathOptions(gw.targets, name));
  const target = gw.targets.get(route.target);
  if (route.target === '_escrow' || (target && !target.config.websocket)) {
    throw new EscrowError('bad_request', 'this target does not accept protocol upgrades', {
      reason: 'upgrade_not_allowed',
    });
  }
  if (!target) throw new EscrowError('unknown_target', 'no such target');
  up.target = target;
  up.path = upstreamPath(target, route.rest);
  up.query = route.query;
  requireAudit(gw.audit);
  if (req.method !== 'GET' || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    throw new EscrowError('bad_request', 'only GET with Upgrade: websocket is proxied', {
      reason: 'upgrade_not_websocket',
    });
  }
  checkRequestHeaders(req);
  await admitRequest(gw, req, socket, { target, action: 'connect', path: up.path, query: route.query }, up);
}

/** Strip, inject, and send the upgrade upstream. Redirects and every other non-101 answer are relayed scrubbed. */
function connectUpstream(gw: Gateway, req: IncomingMessage, socket: Duplex, head: Buffer, up: Upgrade) {
  const target = up.target!;
  const lease = up.lease!;
  const index = gw.secrets.index;
  const headers = upstreamHeaders(req, {
    tokenHeaders: target.tokenHeaders,
    forwarded: gw.config.proxy.forwardedHeaders,
  });
  // permessage-deflate would hide the secret from the scrubber: never offered upstream.
  delete headers['sec-websocket-extensions'];
  headers['x-request-id'] = up.requestId;
  const upstream: UpstreamRequest = { method: 'GET', path: up.path! + up.query, headers };
  // The credential and what the adapter derived stay needles for as long as this connection lives.
  const derived = target.adapter.inject(upstream, lease.credential);
  const unpin = gw.secrets.pin(lease.credential);
  const unpinDerived = gw.secrets.pinDerived(Array.isArray(derived) ? derived : []);
  const release = () => {
    unpinDerived();
    unpin();
  };
  if (socket.destroyed) release();
  else socket.once('close', release);
  const flushAfterMs = target.config.scrub.flushAfterMs;
  const url = new URL(target.origin);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      const mapped = upstreamError(error);
      gw.metrics.upstreamErrors.inc({ target: target.config.name, kind: mapped.kind });
      reject(mapped.error);
    };
    const proxyReq = send({
      hostname: url.hostname,
      port: url.port,
      method: 'GET',
      path: upstream.path,
      headers: { ...upstream.headers, connection: 'Upgrade', upgrade: 'websocket' },
      agent: false,
    });
    proxyReq.setTimeout(target.config.limits.headersTimeoutMs, () =>
      proxyReq.destroy(Object.assign(new Error('upstream upgrade timed out'), { code: 'UND_ERR_HEADERS_TIMEOUT' })),
    );
    proxyReq.on('error', fail);
    socket.once('close', () => proxyReq.destroy());
    proxyReq.on('response', (res) => {
      settled = true;
      up.status = res.statusCode ?? 502;
      // The refusal is relayed only once its audit event is written (group commit), like every answer.
      commit(gw, up).then(
        () => {
          up.headSent = true;
          relayRefusal(res, socket, target, index, flushAfterMs);
          resolve();
        },
        (error: unknown) => {
          res.resume();
          reject(error);
        },
      );
    });
    proxyReq.on('upgrade', (res, upSocket, upHead) => {
      settled = true;
      proxyReq.setTimeout(0);
      if (res.headers['sec-websocket-extensions'] !== undefined) {
        upSocket.destroy();
        reject(new EscrowError('upstream_error', 'the upstream negotiated a WebSocket extension Escrow cannot scrub'));
        return;
      }
      up.status = 101;
      // The 101 goes out only once the upgrade's audit event is written (group commit).
      commit(gw, up).then(
        () => {
          up.headSent = true;
          const scrubbed = finishResponseHeaders(
            responseHeaders(res.headers, target.allowedResponseHeaders),
            target,
            index,
          );
          socket.write(headBytes(101, { upgrade: 'websocket', connection: 'Upgrade', ...scrubbed }));
          splice(socket, head, upSocket, upHead, new WebSocketScrubber(index, { flushAfterMs }));
          resolve();
        },
        (error: unknown) => {
          upSocket.destroy();
          reject(error);
        },
      );
    });
    proxyReq.end();
  });
}

/** Agent ⇄ upstream once both sides switched: agent bytes pass as they are, upstream frames are scrubbed. */
function splice(socket: Duplex, head: Buffer, upSocket: Duplex, upHead: Buffer, scrubber: WebSocketScrubber): void {
  const done = () => {
    socket.destroy();
    upSocket.destroy();
  };
  if (upHead.length > 0) scrubber.write(upHead);
  if (head.length > 0) upSocket.write(head);
  pipeline(upSocket, scrubber, socket, done);
  pipeline(socket, upSocket, done);
}

/** A non-101 answer (a redirect, a 401…) goes back scrubbed, close-delimited; an encoded body is dropped. */
function relayRefusal(
  res: IncomingMessage,
  socket: Duplex,
  target: TargetRuntime,
  index: NeedleIndex,
  flushAfterMs: number,
) {
  const headers = finishResponseHeaders(responseHeaders(res.headers, target.allowedResponseHeaders), target, index);
  const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase();
  delete headers['content-length'];
  delete headers['content-encoding'];
  const status = res.statusCode ?? 502;
  if (encoding !== 'identity') {
    res.resume();
    socket.end(headBytes(status, { ...headers, 'content-length': '0', connection: 'close' }));
    return;
  }
  socket.write(headBytes(status, { ...headers, connection: 'close' }));
  pipeline(res, new ScrubStream(index, { flushAfterMs }), socket, () => socket.destroy());
}

function headBytes(status: number, headers: Record<string, string | string[]>): string {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function writeProblem(socket: Duplex, error: EscrowError, requestId: string): void {
  const body = JSON.stringify(toProblem(error, requestId));
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': requestId,
    'cache-control': 'no-store',
    connection: 'close',
  };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer realm="escrow"';
  socket.end(headBytes(error.status, headers) + body);
}

function upgradeEvent(up: Upgrade) {
  const status = up.error?.status ?? up.status ?? 500;
  const event = requestEvent(up, up.target!.config.name, 'GET', up.path, status, up.error);
  return { ...event, upgrade: 'websocket', client: up.client };
}

/** Group commit: the answer to the upgrade is written only once its audit event is. */
function commit(gw: Gateway, up: Upgrade): Promise<void> {
  up.audited = true;
  return gw.audit.commit(upgradeEvent(up));
}

function record(gw: Gateway, up: Upgrade): void {
  const target = up.target!.config.name;
  const status = up.error?.status ?? up.status ?? 500;
  const decision = up.decision?.decision ?? 'deny';
  gw.metrics.requestsTotal.inc({ target, decision, code_class: `${Math.floor(status / 100)}xx` });
  if (!up.audited) gw.audit.record(upgradeEvent(up));
}
