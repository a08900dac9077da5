import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { UpstreamRequest } from '../../../adapters/types.js';
import { requireAudit } from '../../audit/index.js';
import type { CutReason } from '../../connections.js';
import type { Building, Soon } from '../../domain.js';
import type { EscrowError } from '../../errors.js';
import type { Gateway } from '../../gateway.js';
import { sendProblem } from '../../http/respond.js';
import type { Route } from '../../http/route.js';
import { openMcpExchange } from '../../mcp/exchange.js';
import { handleTaskApi } from '../../task-api.js';
import type { Ask, Channel, Exchange } from '../exchange.js';
import { forwardAndScrub } from '../forward.js';
import { strippedHeaders } from '../inject.js';
import { commitExchange } from '../record.js';
import { parseRequestRoute, routeRequest } from '../route.js';
import { type RequestBody, requestBody } from './body.js';
import { cutRequest } from './cut.js';

/**
 * A plain request's channel through the pipeline (pipeline/index.ts): `/_escrow/…` is Escrow's own API, an MCP
 * target's request carries its protocol's hooks, the body streams (or is read when the adapter signs it), and the
 * answer goes back on the ServerResponse.
 */
export function httpChannel(gw: Gateway, req: IncomingMessage, res: ServerResponse, ex: Exchange): Channel {
  return new HttpChannel(gw, req, res, ex);
}

// A class, not an object of closures: its methods are shared, not made again for every request.
class HttpChannel implements Channel {
  readonly #gw: Gateway;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly ex: Exchange;
  #stream: Readable | undefined;

  constructor(gw: Gateway, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
    this.#gw = gw;
    this.#req = req;
    this.#res = res;
    this.ex = ex;
  }

  get owner(): ServerResponse {
    return this.#res;
  }

  route(): Soon<Ask | undefined> {
    const gw = this.#gw;
    const req = this.#req;
    const ex = this.ex;
    const route = parseRequestRoute(gw, req);
    if (route.target === '_escrow') return this.#ownApi(route);
    const ask = routeRequest(gw, req, route, ex);
    ex.mcp = openMcpExchange(gw, req, this.#res, ask.target, route, ex.requestId);
    return ask;
  }

  async #ownApi(route: Route): Promise<undefined> {
    requireAudit(this.#gw.audit);
    await handleTaskApi(this.#gw, this.#req, this.#res, route, this.ex.requestId);
    return undefined;
  }

  // The task's close, expiry or a kill switch stops this request wherever it is (lib/cut.ts).
  cut(reason: CutReason): void {
    cutRequest(this.#res, this.ex, reason);
  }

  upstreamRequest(ask: Ask): Soon<UpstreamRequest> {
    const req = this.#req;
    const ex = this.ex;
    if (req.headers.expect?.toLowerCase() === '100-continue' && !ex.mcp) this.#res.writeContinue();
    const { target } = ask;
    // An MCP request's body was read (and decided) at stage 4.
    const body = ex.mcp
      ? { buffer: ex.mcp.body }
      : requestBody(req, target.config.limits.maxBodyBytes, target.adapter.needsBody === true);
    return body instanceof Promise ? body.then((read) => this.#upstream(ask, read)) : this.#upstream(ask, body);
  }

  #upstream(ask: Ask, body: RequestBody): UpstreamRequest {
    const req = this.#req;
    this.#stream = body.stream;
    const headers = strippedHeaders(this.#gw, req, ask.target, this.ex.requestId);
    const upstream: Building<UpstreamRequest> = { method: req.method!, path: ask.path + ask.query, headers };
    if (body.buffer) {
      headers['content-length'] = String(body.buffer.length);
      upstream.body = body.buffer;
    }
    return upstream;
  }

  forward(ask: Ask, upstream: UpstreamRequest, release: () => void): Promise<void> {
    const gw = this.#gw;
    const req = this.#req;
    const res = this.#res;
    const ex = this.ex;
    return forwardAndScrub({
      gw,
      res,
      target: ask.target,
      request: {
        method: upstream.method,
        path: upstream.path,
        headers: upstream.headers,
        body: upstream.body ?? this.#stream,
      },
      outcome: ex.forward,
      abort: ex.abort,
      onFinal: () => commitExchange(gw, req, ex, res.statusCode),
      hook: ex.mcp,
      done: release,
    });
  }

  answered(): boolean {
    return this.#res.headersSent;
  }

  // A cut before the answer began has already told the agent why.
  ended(): boolean {
    return this.#res.writableEnded;
  }

  refuse(error: EscrowError): void {
    if (!this.ex.mcp?.answer(this.#res, error)) sendProblem(this.#res, error, this.ex.requestId);
  }

  fallbackStatus(): number {
    return this.#res.statusCode;
  }
}
