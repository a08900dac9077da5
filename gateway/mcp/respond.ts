import type { IncomingMessage } from 'node:http';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import type { ResponseFilter } from '../pipeline/scrub.js';
import type { TargetRuntime } from '../targets.js';
import { principalHash } from '../tasks/model.js';
import type { McpTargetConfig } from './config.js';
import type { Asker } from './decide.js';
import type { ItemCheck, ListRouting } from './filter.js';
import { McpResponseFilter } from './response.js';

/** The parts of an `McpExchange` its answer needs (the exchange passes itself). */
export interface Answering {
  readonly gw: Gateway;
  readonly req: IncomingMessage;
  readonly target: TargetRuntime;
  readonly config: McpTargetConfig;
  readonly asker: Asker | undefined;
}

/** What the exchange learnt at stage 4 that its answer depends on. */
export interface AnswerState {
  readonly initialize: boolean;
  readonly sessionId: string | undefined;
  readonly routing: ListRouting;
  readonly check: ItemCheck;
}

type Head = { status: number; headers: Record<string, string | string[]> };

const ok = (status: number) => status >= 200 && status < 300;

/**
 * Bind the session an `initialize` answer creates to this principal and task, before the agent sees the answer (and
 * so before it can send the next request, to any replica). It lives as long as the task.
 */
function bindSession(ex: Answering, head: Head): Promise<void> | undefined {
  const sessionId = head.headers['mcp-session-id'];
  if (sessionId === undefined) return undefined;
  const asker = ex.asker!;
  const { gw, target } = ex;
  const conflict = () => {
    gw.mcp.metrics.refused(target.config.name, 'session_conflict');
    return new EscrowError('upstream_error', 'the MCP server answered with a session id Escrow cannot bind', {
      reason: 'mcp_session_conflict',
    });
  };
  if (typeof sessionId !== 'string') return Promise.reject(conflict());
  const ttlMs = asker.task ? asker.task.expiresAt - gw.now() : gw.config.tasks.maxTtlSeconds * 1000;
  const binding = { task: asker.task?.id ?? '', principal: principalHash(asker.principal) };
  const bound = gw.mcp.sessions.bind(target.config.name, sessionId, binding, ttlMs).then((fresh) => {
    if (!fresh) throw conflict();
  });
  bound.catch(() => {}); // awaited by the filter; a rejection fails the answer there
  return bound;
}

/** A DELETE the server accepted ends the session for Escrow too. */
function endSession(ex: Answering, sessionId: string): void {
  ex.gw.mcp.sessions
    .end(ex.target.config.name, sessionId)
    .catch((error: Error) => ex.gw.log.warn({ err: error.message }, 'an ended MCP session binding was not deleted'));
}

/**
 * The transform the upstream's answer goes through before the scrubber, if it needs one: a list answer is filtered
 * (JSON read whole, SSE event by event), a GET stream is watched for list answers (a replay), a new session is bound
 * before the first byte goes out. Undefined when the answer passes as it is.
 */
export function responseFilterFor(ex: Answering, head: Head, state: AnswerState): ResponseFilter | undefined {
  if (ex.req.method === 'DELETE') {
    if (ok(head.status) && state.sessionId !== undefined) endSession(ex, state.sessionId);
    return undefined;
  }
  const gate = state.initialize && ok(head.status) ? bindSession(ex, head) : undefined;
  const sse = String(head.headers['content-type'] ?? '')
    .toLowerCase()
    .startsWith('text/event-stream');
  const lists = state.routing.lists.size > 0 || (ex.req.method === 'GET' && sse);
  if (!lists && gate === undefined) return undefined;
  const target = ex.target.config.name;
  const mode = lists ? (sse ? 'sse' : 'json') : 'pass';
  // A JSON list answer may still be refused whole (502); a new session's answer waits for its binding. An event
  // stream otherwise shows the agent its head at once (a GET stream may stay quiet for long).
  const holdHead = gate !== undefined || mode === 'json';
  const transform = new McpResponseFilter({
    mode,
    ...(gate ? { gate } : {}),
    routing: state.routing,
    check: state.check,
    maxBytes: ex.config.maxListBytes,
    onHidden: (hidden) => {
      for (const [list, count] of hidden) ex.gw.mcp.metrics.hidden(target, list, count);
    },
  });
  transform.once('error', (error: Error) => {
    if ((error as EscrowError).reason === 'mcp_list_unreadable') ex.gw.mcp.metrics.refused(target, 'list_unreadable');
  });
  return { transform, holdHead };
}
