import type { IncomingMessage } from 'node:http';
import type { Decision } from '../domain.js';
import type { Gateway } from '../gateway.js';
import { clientIp } from '../http/address.js';
import { queryKeys } from '../http/route.js';
import type { Admission } from './admission.js';
import type { Ask } from './exchange.js';
import { authorize, requireAllow } from './lib/decide.js';

/**
 * Stage 4: Cedar decides the exact request (an MCP request: each of its JSON-RPC calls) for this principal and task.
 * Anything but an allow throws 403 with the decision's id.
 */
export async function authorizeAsk(gw: Gateway, req: IncomingMessage, ask: Ask, into: Admission): Promise<Decision> {
  into.decision = ask.mcp
    ? await ask.mcp.authorize(into)
    : authorize(gw, {
        principal: into.principal!,
        action: ask.action,
        target: ask.target.facts,
        method: req.method ?? 'GET',
        path: ask.path,
        queryKeys: queryKeys(ask.query),
        ...(into.task ? { task: into.task } : {}),
        clientIp: clientIp(req.socket.remoteAddress),
      });
  requireAllow(into.decision);
  return into.decision;
}
