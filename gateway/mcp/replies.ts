import type { ServerResponse } from 'node:http';
import type { RpcId } from './jsonrpc.js';

/**
 * JSON-RPC error codes Escrow answers with. The -32000…-32019 range is implementation-defined (MCP 2026-07-28,
 * "Error Codes"); -32001 is what the official SDK's server answers for an unknown session.
 */
export const RPC_ERRORS = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  sessionNotFound: -32001,
  /** Cedar denied this call. `data.decisionId` names the decision. */
  deniedByPolicy: -32010,
  /** This call was allowed, but another call of its batch was denied: nothing of the batch was sent. */
  batchNotSent: -32011,
  headerMismatch: -32020,
  unsupportedVersion: -32022,
} as const;

export interface RpcErrorData {
  readonly reason: string;
  readonly requestId: string;
  readonly decisionId?: string;
  readonly [extra: string]: unknown;
}

export interface RpcErrorResponse {
  readonly jsonrpc: '2.0';
  readonly id: RpcId | null;
  readonly error: { readonly code: number; readonly message: string; readonly data: RpcErrorData };
}

export function rpcError(id: RpcId | null, code: number, message: string, data: RpcErrorData): RpcErrorResponse {
  return { jsonrpc: '2.0', id, error: { code, message, data } };
}

/** What is sent back instead of forwarding: an HTTP status and a JSON-RPC body (one response, or a batch's array). */
export interface RpcReply {
  readonly status: number;
  readonly body: RpcErrorResponse | readonly RpcErrorResponse[];
}

/** Write a JSON-RPC answer made by Escrow itself (never one that came from the upstream: those are scrubbed). */
export function sendRpcReply(res: ServerResponse, reply: RpcReply, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(reply.body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    'cache-control': 'no-store',
  };
  if (res.req && !res.req.complete) headers.connection = 'close';
  res.writeHead(reply.status, headers);
  res.end(body);
}
