import type { IncomingMessage } from 'node:http';
import { requireAudit } from '../audit/index.js';
import { type Action, actionForMethod } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { checkRequestHeaders } from '../http/headers.js';
import { type Route, RouteCache } from '../http/route.js';
import { pathOptions, type TargetRuntime, upstreamPath } from '../targets.js';
import type { Ask, Exchange } from './exchange.js';

/** Stage 1: `/<target>/<rest>` under strict path normalisation (gateway/http/route.ts), before any token is read. */
export function parseRequestRoute(gw: Gateway, req: IncomingMessage): Route {
  return routes.parse(req.url ?? '', gw.targets, pathOptions);
}

/** One for the process: entries are checked against the options in force, whichever gateway asks (http/route.ts). */
const routes = new RouteCache();

/** What policy reads of the query: its parameter names. */
function keysOf(req: IncomingMessage, route: Route): readonly string[] {
  return routes.queryKeys(req.url ?? '', route);
}

function methodAction(method: string | undefined): Action {
  const action = actionForMethod(method ?? '');
  if (!action) throw new EscrowError('method_not_allowed', `method ${method ?? '?'} is not proxied`);
  return action;
}

/** From here on the exchange is recorded (stage 9 records whatever reached a target); nothing passes without audit. */
function enter(gw: Gateway, ex: Exchange, target: TargetRuntime, route: Route): void {
  ex.target = target;
  target.users.enter(); // left in the pipeline's finally, with the record
  ex.path = upstreamPath(target, route.rest);
  requireAudit(gw.audit);
}

/** Stage 1 for a plain request: the target (a postgres target is reached on its own listener, never over HTTP). */
export function routeRequest(gw: Gateway, req: IncomingMessage, route: Route, ex: Exchange): Ask {
  const target = gw.targets.get(route.target);
  if (!target || target.config.protocol === 'postgres') throw new EscrowError('unknown_target', 'no such target');
  enter(gw, ex, target, route);
  const action = methodAction(req.method);
  checkRequestHeaders(req);
  return { target, action, path: ex.path!, query: route.query, queryKeys: keysOf(req, route) };
}

/**
 * Stage 1 for a WebSocket upgrade: only `GET` + `Upgrade: websocket` to a target with `websocket: true`, authorized
 * as `connect`. Escrow's own API is never upgraded.
 */
export function routeUpgrade(gw: Gateway, req: IncomingMessage, ex: Exchange): Ask {
  const route = parseRequestRoute(gw, req);
  const target = gw.targets.get(route.target);
  if (route.target === '_escrow' || (target && !target.config.websocket)) {
    throw new EscrowError('bad_request', 'this target does not accept protocol upgrades', {
      reason: 'upgrade_not_allowed',
    });
  }
  if (!target) throw new EscrowError('unknown_target', 'no such target');
  enter(gw, ex, target, route);
  if (req.method !== 'GET' || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    throw new EscrowError('bad_request', 'only GET with Upgrade: websocket is proxied', {
      reason: 'upgrade_not_websocket',
    });
  }
  checkRequestHeaders(req);
  return { target, action: 'connect', path: ex.path!, query: route.query, queryKeys: keysOf(req, route) };
}
