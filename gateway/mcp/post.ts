import type { Decision } from '../domain.js';
import type { ListKind, McpCall, RefusedCall } from './calls.js';
import { classify, isRefused } from './calls.js';
import type { Asker } from './decide.js';
import { APPROVAL_UNSUPPORTED, decide, recordCall } from './decide.js';
import type { RpcId, RpcMessage } from './jsonrpc.js';
import { RPC_ERRORS, type RpcErrorResponse, type RpcReply, rpcError } from './replies.js';

/** The calls of one POST, decided: every decision, and the answer to send instead of forwarding when any is refused. */
export interface DecidedPost {
  readonly decisions: readonly Decision[];
  readonly reply?: RpcReply;
  /** Ids of the list requests (their answers are filtered) and of every request forwarded. */
  readonly lists: Map<RpcId, ListKind>;
  readonly forwarded: Set<RpcId>;
}

interface Outcome {
  readonly message: RpcMessage;
  readonly refused?: RefusedCall;
  readonly call?: McpCall;
  readonly decision?: Decision;
}

function refusalError(asker: Asker, modern: boolean, refused: RefusedCall): { status: number; body: RpcErrorResponse } {
  const unknown = refused.refused === 'unknown_method';
  const code = unknown ? RPC_ERRORS.methodNotFound : RPC_ERRORS.invalidParams;
  const body = rpcError(refused.message.id ?? null, code, unknown ? 'Method not found' : 'Invalid params', {
    reason: refused.refused,
    requestId: asker.requestId,
  });
  // 2026-07-28 answers an unknown method with 404; earlier revisions in-band.
  return { status: unknown && modern ? 404 : 200, body };
}

function deniedError(asker: Asker, message: RpcMessage, decision: Decision): RpcErrorResponse {
  const waits = decision.errors.includes(APPROVAL_UNSUPPORTED);
  const text = waits ? 'Needs a person’s approval, which MCP calls cannot wait for' : 'Denied by policy';
  return rpcError(message.id ?? null, RPC_ERRORS.deniedByPolicy, `${text} (decision ${decision.id})`, {
    reason: waits ? 'approval_unsupported' : 'policy_denied',
    requestId: asker.requestId,
    decisionId: decision.id,
  });
}

function notSent(asker: Asker, message: RpcMessage): RpcErrorResponse {
  const text = 'Not sent: another call of this batch was refused';
  return rpcError(message.id ?? null, RPC_ERRORS.batchNotSent, text, {
    reason: 'batch_not_sent',
    requestId: asker.requestId,
  });
}

/**
 * The answer when anything was refused. A batch is all or nothing: the server never sees part of it. Requests get
 * their own JSON-RPC error (the denial with its decision id, or "not sent"); a body of notifications or responses
 * only, which has no id to answer, gets HTTP 403 (400 for a refused method) with one error without id.
 */
function replyFor(asker: Asker, modern: boolean, outcomes: readonly Outcome[]): RpcReply | undefined {
  const bad = outcomes.filter((o) => o.refused !== undefined || o.decision?.decision !== 'allow');
  if (bad.length === 0) return undefined;
  const errorOf = (o: Outcome) => {
    if (o.refused) return refusalError(asker, modern, o.refused);
    if (o.decision?.decision !== 'allow') return { status: 200, body: deniedError(asker, o.message, o.decision!) };
    return { status: 200, body: notSent(asker, o.message) };
  };
  const requests = outcomes.filter((o) => o.message.kind === 'request');
  if (requests.length === 0) {
    const first = errorOf(bad[0]!);
    return { status: bad[0]!.refused ? 400 : 403, body: { ...first.body, id: null } };
  }
  if (outcomes.length === 1) return errorOf(outcomes[0]!);
  return { status: 200, body: requests.map((o) => errorOf(o).body) };
}

/** One decision standing for every call of the request: an allow only if each call was allowed and none refused. */
export function combineDecisions(decisions: readonly Decision[], refused: boolean): Decision {
  const denied = decisions.find((d) => d.decision !== 'allow');
  const allowed = !refused && denied === undefined && decisions.length > 0;
  return {
    id: (denied ? [denied] : decisions).map((d) => d.id).join(','),
    decision: allowed ? 'allow' : 'deny',
    policies: [...new Set(decisions.flatMap((d) => d.policies))],
    errors: decisions.flatMap((d) => d.errors),
  };
}

/** Classify, decide, audit and count every message of a POST; the reply says what to answer if anything was refused. */
export function decidePost(
  asker: Asker,
  messages: readonly RpcMessage[],
  protocol: { version: string; modern: boolean },
): DecidedPost {
  const outcomes: Outcome[] = messages.map((message) => {
    const call = classify(message, protocol.version);
    if (isRefused(call)) {
      asker.gw.mcp.metrics.refused(asker.target.config.name, call.refused);
      return { message, refused: call };
    }
    const decision = decide(asker, call.action, call.facts);
    recordCall(
      asker,
      { action: call.action, facts: call.facts, ...(message.id === undefined ? {} : { id: message.id }) },
      decision,
    );
    return { message, call, decision };
  });
  const lists = new Map<RpcId, ListKind>();
  const forwarded = new Set<RpcId>();
  for (const { message, call } of outcomes) {
    if (message.kind !== 'request' || message.id === undefined) continue;
    forwarded.add(message.id);
    if (call?.list !== undefined) lists.set(message.id, call.list);
  }
  const reply = replyFor(asker, protocol.modern, outcomes);
  const decisions = outcomes.flatMap((o) => (o.decision ? [o.decision] : []));
  return { decisions, ...(reply ? { reply } : {}), lists, forwarded };
}
