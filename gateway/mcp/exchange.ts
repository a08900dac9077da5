import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Decision, Principal, Task } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { clientIp } from '../http/address.js';
import { headerValues } from '../http/raw-headers.js';
import type { Route } from '../http/route.js';
import type { ResponseFilter } from '../pipeline/scrub.js';
import type { TargetRuntime } from '../targets.js';
import type { ListKind } from './calls.js';
import { DEFAULT_MCP, type McpTargetConfig } from './config.js';
import { type Asker, decide, itemCheck, recordCall } from './decide.js';
import type { ListRouting } from './filter.js';
import type { RpcId } from './jsonrpc.js';
import type { McpRefusal } from './metrics.js';
import { combineDecisions } from './post.js';
import { isHeaderProblem, protocolOf } from './protocol.js';
import { readPost } from './read-post.js';
import { RPC_ERRORS, type RpcReply, rpcError, sendRpcReply } from './replies.js';
import { responseFilterFor } from './respond.js';
import { checkSession, type SessionRefusal } from './session-check.js';

/** What the pipeline has admitted by stage 4: who asks, and under which task (its `Admission`, read-only). */
export interface Admitted {
  readonly principal?: Principal;
  readonly task?: Task;
}

/**
 * One HTTP request to an MCP target, from admission to the end of its answer: the hooks the pipeline calls at stage 4
 * (`authorize`), stage 6 (`body`), stage 8 (`responseFilter`) and when it fails (`answer`). An MCP target has one
 * endpoint (`/<target>`), answers POST (JSON-RPC), GET (the legacy SSE stream) and DELETE (ending a session).
 */
export class McpExchange {
  readonly config: McpTargetConfig;
  /** The POST body, read and checked at stage 4, forwarded as it is. */
  body: Buffer | undefined;
  /** The HTTP status of an answer Escrow made itself (for the `request` audit event). */
  answeredStatus: number | undefined;
  #reply: RpcReply | undefined;
  #asker: Asker | undefined;
  #protocolVersion = '2025-03-26';
  #initialize = false;
  #sessionId: string | undefined;
  #routing: ListRouting = { lists: new Map<RpcId, ListKind>(), forwarded: new Set<RpcId>() };

  constructor(
    readonly gw: Gateway,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly target: TargetRuntime,
    readonly requestId: string,
  ) {
    this.config = target.config.mcp ?? DEFAULT_MCP;
  }

  /**
   * Stage 4 for MCP: the session must be this task's, then every JSON-RPC call gets its own Cedar decision (audited
   * one by one). Returns the combined decision (an allow only when every call is allowed); a refusal leaves the
   * JSON-RPC answer for `answer` and denies or throws.
   */
  async authorize(into: Admitted): Promise<Decision> {
    const asker = this.#askerFor(into);
    const sessionHeader = headerValues(this.req.rawHeaders, 'mcp-session-id');
    this.#sessionId = await checkSession(asker, sessionHeader, (reason) => this.#refuse(404, reason));
    if (this.req.method !== 'POST') return this.#decideStream(asker);
    const post = await readPost(asker, this.req, this.res, (...args) => this.#refuseRpc(...args));
    this.body = post.body;
    this.#protocolVersion = post.protocolVersion;
    this.#initialize = post.initialize;
    this.#routing = { lists: post.decided.lists, forwarded: post.decided.forwarded };
    if (post.decided.reply !== undefined) this.#reply = post.decided.reply;
    return combineDecisions(post.decided.decisions, this.#reply !== undefined);
  }

  /** Stage 8 hook: what the upstream's answer goes through before the scrubber (undefined: nothing). */
  responseFilter(head: { status: number; headers: Record<string, string | string[]> }): ResponseFilter | undefined {
    return responseFilterFor(this, head, {
      initialize: this.#initialize,
      sessionId: this.#sessionId,
      routing: this.#routing,
      check: itemCheck(() => this.#asker, this.#protocolVersion),
    });
  }

  /** Answer a failure the MCP way when it is one of MCP's own refusals; false leaves it to the problem document. */
  answer(res: ServerResponse, error: EscrowError): boolean {
    if (this.#reply === undefined || !(error.code === 'policy_denied' || error.reason?.startsWith('mcp_'))) {
      return false;
    }
    sendRpcReply(res, this.#reply, this.requestId);
    this.answeredStatus = this.#reply.status;
    return true;
  }

  /** The asker of this request's decisions (after `authorize`). */
  get asker(): Asker | undefined {
    return this.#asker;
  }

  #askerFor(into: Admitted): Asker {
    this.#asker = {
      gw: this.gw,
      target: this.target,
      config: this.config,
      principal: into.principal!,
      ...(into.task ? { task: into.task } : {}),
      requestId: this.requestId,
      method: this.req.method ?? 'POST',
      path: this.target.basePath || '/',
      clientIp: clientIp(this.req.socket.remoteAddress),
    };
    return this.#asker;
  }

  /** GET (the legacy SSE stream) and DELETE (ending a session): `useSession`, kind `stream` or `close`. */
  #decideStream(asker: Asker): Decision {
    const info = protocolOf(this.req);
    if (isHeaderProblem(info)) throw this.#refuseRpc(400, RPC_ERRORS.headerMismatch, 'header_mismatch', info.message);
    if (!(this.config.protocolVersions as readonly string[]).includes(info.version)) {
      throw this.#refuseRpc(400, RPC_ERRORS.unsupportedVersion, 'unsupported_version', 'Unsupported protocol version');
    }
    this.#protocolVersion = info.version;
    const kind = this.req.method === 'GET' ? 'stream' : 'close';
    const facts = { method: '', kind, protocolVersion: info.version } as const;
    const decision = decide(asker, 'useSession', facts);
    recordCall(asker, { action: 'useSession', facts: { ...facts, method: this.req.method ?? '' } }, decision);
    if (decision.decision !== 'allow') {
      this.#reply = {
        status: 403,
        body: rpcError(null, RPC_ERRORS.deniedByPolicy, `Denied by policy (decision ${decision.id})`, {
          reason: 'policy_denied',
          requestId: this.requestId,
          decisionId: decision.id,
        }),
      };
    }
    return decision;
  }

  /** A body or its headers refused before any decision: the JSON-RPC answer, and the error to throw. */
  #refuseRpc(status: number, code: number, reason: McpRefusal, message: string, id?: RpcId | null): EscrowError {
    const versions =
      reason === 'unsupported_version'
        ? { supported: this.config.protocolVersions, requested: this.req.headers['mcp-protocol-version'] ?? null }
        : {};
    this.#reply = {
      status,
      body: rpcError(id ?? null, code, message, { reason, requestId: this.requestId, ...versions }),
    };
    this.gw.mcp.metrics.refused(this.target.config.name, reason);
    return new EscrowError('bad_request', message, { reason: `mcp_${reason}` });
  }

  #refuse(status: number, reason: SessionRefusal): EscrowError {
    this.#reply = {
      status,
      body: rpcError(null, RPC_ERRORS.sessionNotFound, 'Session not found', { reason, requestId: this.requestId }),
    };
    this.gw.mcp.metrics.refused(this.target.config.name, reason);
    return new EscrowError('not_found', 'no such MCP session', { reason: `mcp_${reason}` });
  }
}

/**
 * The MCP exchange for a request to an MCP target (undefined for any other target). Only the endpoint itself
 * (`/<target>` or `/<target>/`, no query) and POST, GET and DELETE are served: any other path of the upstream is out
 * of reach, since nothing but JSON-RPC calls is authorized here.
 */
export function openMcpExchange(
  gw: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
  target: TargetRuntime,
  route: Route,
  requestId: string,
): McpExchange | undefined {
  if (target.config.protocol !== 'mcp') return undefined;
  if (route.rest !== '/') throw new EscrowError('not_found', 'an MCP target has one endpoint: /<target>');
  if (route.query !== '') throw new EscrowError('bad_request', 'the MCP endpoint takes no query string');
  if (!['POST', 'GET', 'DELETE'].includes(req.method ?? '')) {
    throw new EscrowError('method_not_allowed', 'an MCP endpoint answers POST, GET and DELETE');
  }
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  if (req.method !== 'POST' && hasBody && req.headers['content-length'] !== '0') {
    throw new EscrowError('bad_request', `an MCP ${req.method} carries no body`);
  }
  return new McpExchange(gw, req, res, target, requestId);
}
