import type { IncomingMessage } from 'node:http';
import type { Decision } from '../domain.js';
import type { Gateway } from '../gateway.js';
import type { Ask, Exchange } from './exchange.js';
import { authorize, requireAllow } from './lib/decide.js';

/**
 * Stage 4: Cedar decides the exact request (an MCP request: each of its JSON-RPC calls) for this principal and task.
 * Anything but an allow throws 403 with the decision's id.
 */
export async function authorizeAsk(gw: Gateway, req: IncomingMessage, ask: Ask, into: Exchange): Promise<Decision> {
  into.decision = into.mcp
    ? await into.mcp.authorize(into)
    : authorize(gw, {
        principal: into.principal!,
        action: ask.action,
        target: ask.target.facts,
        method: req.method ?? 'GET',
        path: ask.path,
        queryKeys: ask.queryKeys,
        ...(into.task ? { task: into.task } : {}),
        clientIp: into.client,
      });
  requireAllow(into.decision);
  return into.decision;
}
