import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { type Duplex, pipeline } from 'node:stream';
import type { UpstreamRequest } from '../../../adapters/types.js';
import { EscrowError } from '../../errors.js';
import type { Gateway } from '../../gateway.js';
import { responseHeaders } from '../../http/headers.js';
import { endWithProblem, rawHead } from '../../http/raw.js';
import { type CircuitOutcome, circuitOutcome } from '../../proxy/breaker.js';
import { upstreamError } from '../../proxy/forward.js';
import { ScrubStream } from '../../proxy/scrub.js';
import { WebSocketScrubber } from '../../proxy/ws-frames.js';
import type { NeedleIndex } from '../../scrub/index.js';
import type { TargetRuntime } from '../../targets.js';
import type { Channel, Exchange } from '../exchange.js';
import { strippedHeaders } from '../inject.js';
import { commitExchange } from '../record.js';
import { routeUpgrade } from '../route.js';
import { finishResponseHeaders } from '../scrub.js';

/**
 * The WebSocket upgrade's channel through the pipeline (pipeline/index.ts): stage 1 admits only `GET` +
 * `Upgrade: websocket` to a target with `websocket: true` (authorized as `connect`), the credential is injected on
 * the upgrade request only, and the answer goes back on the raw socket: the scrubbed 101 and frames, or a scrubbed
 * refusal, or a problem document.
 */
export function upgradeChannel(gw: Gateway, req: IncomingMessage, socket: Duplex, head: Buffer, ex: Exchange): Channel {
  const state = { headSent: false };
  return {
    ex,
    owner: socket,
    route: async () => routeUpgrade(gw, req, ex),
    // The session lives no longer than its task and lease: their close, expiry or a kill switch cuts both sides.
    cut: (reason) => {
      ex.cut = reason;
      socket.destroy();
    },
    async upstreamRequest(ask) {
      const headers = strippedHeaders(gw, req, ask.target, ex.requestId);
      // permessage-deflate would hide the secret from the scrubber: never offered upstream.
      delete headers['sec-websocket-extensions'];
      return { method: 'GET', path: ask.path + ask.query, headers };
    },
    forward(ask, upstream, release) {
      if (socket.destroyed) {
        // The agent left during admission: nothing goes upstream (a plain request's forward refuses it alike).
        release();
        return Promise.reject(new EscrowError('client_closed', 'the agent closed the connection'));
      }
      // The credential and what the adapter derived stay needles for as long as this connection lives.
      socket.once('close', release);
      return connectUpstream(gw, req, socket, head, ask.target, upstream, ex, state);
    },
    answered: () => state.headSent,
    ended: () => false,
    refuse(error) {
      if (state.headSent) socket.destroy();
      else endWithProblem(socket, error, ex.requestId);
    },
    fallbackStatus: () => 500,
  };
}

/**
 * Stages 7 and 8 for an upgrade: send it upstream (asking the target's circuit breaker first, like every request),
 * then splice the sockets with the upstream's frames scrubbed. Redirects and every other non-101 answer are relayed
 * scrubbed. The answer goes out only once the upgrade's audit event is written (group commit).
 */
function connectUpstream(
  gw: Gateway,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: TargetRuntime,
  upstream: UpstreamRequest,
  ex: Exchange,
  state: { headSent: boolean },
) {
  const index = gw.secrets.index;
  const flushAfterMs = target.config.scrub.flushAfterMs;
  const url = new URL(target.origin);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const breaker = target.breaker;
  const ticket = breaker?.admit(); // throws while the target's circuit is open: nothing is sent
  let settled = false;
  const settle = (outcome: CircuitOutcome) => {
    if (settled) return;
    settled = true;
    if (breaker && ticket) breaker.settle(ticket, outcome);
  };
  const commit = () => commitExchange(gw, req, ex, 500);
  return new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => {
      if (settled) return;
      const mapped = upstreamError(error);
      // The agent going away destroys the upstream request too: that says nothing about the upstream.
      settle(socket.destroyed ? 'neutral' : circuitOutcome({ errorKind: mapped.kind }));
      gw.metrics.upstreamErrors.inc({ target: target.config.name, kind: mapped.kind });
      reject(mapped.error);
    };
    ex.forward.dispatchedAt = performance.now();
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
      ex.forward.status = res.statusCode ?? 502;
      settle(circuitOutcome({ status: ex.forward.status }));
      // The refusal is relayed only once its audit event is written (group commit), like every answer.
      commit().then(
        () => {
          state.headSent = true;
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
      settle('success');
      proxyReq.setTimeout(0);
      if (res.headers['sec-websocket-extensions'] !== undefined) {
        upSocket.destroy();
        reject(new EscrowError('upstream_error', 'the upstream negotiated a WebSocket extension Escrow cannot scrub'));
        return;
      }
      ex.forward.status = 101;
      // The 101 goes out only once the upgrade's audit event is written (group commit).
      commit().then(
        () => {
          state.headSent = true;
          const scrubbed = finishResponseHeaders(
            responseHeaders(res.headers, target.allowedResponseHeaders),
            target,
            index,
          );
          socket.write(rawHead(101, { upgrade: 'websocket', connection: 'Upgrade', ...scrubbed }));
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
    socket.end(rawHead(status, { ...headers, 'content-length': '0', connection: 'close' }));
    return;
  }
  socket.write(rawHead(status, { ...headers, connection: 'close' }));
  pipeline(res, new ScrubStream(index, { flushAfterMs }), socket, () => socket.destroy());
}
