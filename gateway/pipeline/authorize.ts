import type { IncomingMessage } from 'node:http';
import type { Building, Decision, Soon } from '../domain.js';
import type { Gateway } from '../gateway.js';
import type { McpExchange } from '../mcp/exchange.js';
import type { Ask, Exchange } from './exchange.js';
import { type AuthorizeInput, authorize, requireAllow } from './lib/decide.js';

/**
 * Stage 4: Cedar decides the exact request (an MCP request: each of its JSON-RPC calls) for this principal and task.
 * Anything but an allow throws 403 with the decision's id.
 */
export function authorizeAsk(gw: Gateway, req: IncomingMessage, ask: Ask, into: Exchange): Soon<Decision> {
  if (into.mcp) return authorizeMcp(into.mcp, into);
  const input: Building<AuthorizeInput> = {
    principal: into.principal!,
    action: ask.action,
    target: ask.target.facts,
    method: req.method ?? 'GET',
    path: ask.path,
    queryKeys: ask.queryKeys,
    clientIp: into.client,
  };
  if (into.task) input.task = into.task;
  into.decision = authorize(gw, input);
  requireAllow(into.decision);
  return into.decision;
}

/** An MCP request: each of its JSON-RPC calls is decided (gateway/mcp/). */
async function authorizeMcp(mcp: McpExchange, into: Exchange): Promise<Decision> {
  into.decision = await mcp.authorize(into);
  requireAllow(into.decision);
  return into.decision;
}
