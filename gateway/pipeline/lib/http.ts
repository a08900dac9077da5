import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { requireAudit } from '../../audit/index.js';
import type { Gateway } from '../../gateway.js';
import { sendProblem } from '../../http/respond.js';
import { openMcpExchange } from '../../mcp/exchange.js';
import { handleTaskApi } from '../../task-api.js';
import type { Channel, Exchange } from '../exchange.js';
import { forwardAndScrub } from '../forward.js';
import { strippedHeaders } from '../inject.js';
import { commitExchange } from '../record.js';
import { parseRequestRoute, routeRequest } from '../route.js';
import { requestBody } from './body.js';
import { cutRequest } from './cut.js';

/**
 * A plain request's channel through the pipeline (pipeline/index.ts): `/_escrow/…` is Escrow's own API, an MCP
 * target's request carries its protocol's hooks, the body streams (or is read when the adapter signs it), and the
 * answer goes back on the ServerResponse.
 */
export function httpChannel(gw: Gateway, req: IncomingMessage, res: ServerResponse, ex: Exchange): Channel {
  let stream: Readable | undefined;
  return {
    ex,
    owner: res,
    async route() {
      const route = parseRequestRoute(gw, req);
      if (route.target === '_escrow') {
        requireAudit(gw.audit);
        await handleTaskApi(gw, req, res, route, ex.requestId);
        return undefined;
      }
      const ask = routeRequest(gw, req, route, ex);
      ex.mcp = openMcpExchange(gw, req, res, ask.target, route, ex.requestId);
      return ask;
    },
    // The task's close, expiry or a kill switch stops this request wherever it is (lib/cut.ts).
    cut: (reason) => cutRequest(res, ex, reason),
    async upstreamRequest(ask) {
      if (req.headers.expect?.toLowerCase() === '100-continue' && !ex.mcp) res.writeContinue();
      const { target } = ask;
      // An MCP request's body was read (and decided) at stage 4.
      const body = ex.mcp
        ? { buffer: ex.mcp.body }
        : await requestBody(req, target.config.limits.maxBodyBytes, target.adapter.needsBody === true);
      stream = body.stream;
      const headers = strippedHeaders(gw, req, target, ex.requestId);
      if (body.buffer) headers['content-length'] = String(body.buffer.length);
      return {
        method: req.method!,
        path: ask.path + ask.query,
        headers,
        ...(body.buffer ? { body: body.buffer } : {}),
      };
    },
    async forward(ask, upstream, release) {
      try {
        await forwardAndScrub({
          gw,
          res,
          target: ask.target,
          request: {
            method: upstream.method,
            path: upstream.path,
            headers: upstream.headers,
            body: upstream.body ?? stream,
          },
          outcome: ex.forward,
          abort: ex.abort,
          onFinal: () => commitExchange(gw, req, ex, res.statusCode),
          hook: ex.mcp,
        });
      } finally {
        release();
      }
    },
    answered: () => res.headersSent,
    // A cut before the answer began has already told the agent why.
    ended: () => res.writableEnded,
    refuse(error) {
      if (!ex.mcp?.answer(res, error)) sendProblem(res, error, ex.requestId);
    },
    fallbackStatus: () => res.statusCode,
  };
}
