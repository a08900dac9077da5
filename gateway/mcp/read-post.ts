import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EscrowError } from '../errors.js';
import { requestBody } from '../pipeline/lib/body.js';
import type { Asker } from './decide.js';
import { parseBody, type RpcId } from './jsonrpc.js';
import type { McpRefusal } from './metrics.js';
import { type DecidedPost, decidePost } from './post.js';
import { checkMirroredHeaders, isHeaderProblem, protocolOf } from './protocol.js';
import { RPC_ERRORS } from './replies.js';

/** A POST read, checked and decided. */
export interface ReadPost {
  readonly body: Buffer;
  readonly protocolVersion: string;
  /** A single `initialize` request: the answer's `Mcp-Session-Id` is bound to this task. */
  readonly initialize: boolean;
  readonly decided: DecidedPost;
}

/** Builds the JSON-RPC answer for a refused body and returns the error to throw. */
export type Refuse = (
  status: number,
  code: number,
  reason: McpRefusal,
  message: string,
  id?: RpcId | null,
) => EscrowError;

const JSON_TYPE = /^application\/([a-z.+-]*\+)?json\s*(;|$)/i;

/**
 * Read a JSON-RPC POST within the target's bounds and check it before anything is decided: the media type, the
 * JSON (strict), the revision (`MCP-Protocol-Version`), and the headers that mirror the body. Then every call is
 * decided. Malformed input never reaches the server: it is refused with a JSON-RPC parse or invalid-request error.
 */
export async function readPost(
  asker: Asker,
  req: IncomingMessage,
  res: ServerResponse,
  refuse: Refuse,
): Promise<ReadPost> {
  const { config } = asker;
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) {
    throw refuse(415, RPC_ERRORS.invalidRequest, 'invalid_request', 'Content-Type must be application/json');
  }
  // The body is needed for the decision: only an admitted caller is asked to send it.
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  const body = (await requestBody(req, config.maxBodyBytes, true)).buffer ?? Buffer.alloc(0);
  const info = protocolOf(req);
  if (isHeaderProblem(info)) throw refuse(400, RPC_ERRORS.headerMismatch, 'header_mismatch', info.message);
  const parsed = parseBody(body, { maxDepth: config.maxDepth, maxBatch: config.maxBatch, batches: info.batches });
  if (!parsed.ok) {
    const { reason, message, id } = parsed.failure;
    const code = reason === 'parse_error' ? RPC_ERRORS.parseError : RPC_ERRORS.invalidRequest;
    throw refuse(400, code, reason, message, id);
  }
  const [first] = parsed.messages;
  const initialize = !parsed.batch && first!.kind === 'request' && first!.method === 'initialize';
  if (!initialize && !(config.protocolVersions as readonly string[]).includes(info.version)) {
    throw refuse(400, RPC_ERRORS.unsupportedVersion, 'unsupported_version', 'Unsupported protocol version', first?.id);
  }
  const problem = parsed.batch
    ? req.headers['mcp-method'] !== undefined || req.headers['mcp-name'] !== undefined
      ? { message: 'Header mismatch: a batch has no single method' }
      : undefined
    : checkMirroredHeaders(req, info, first!);
  if (problem) throw refuse(400, RPC_ERRORS.headerMismatch, 'header_mismatch', problem.message, first?.id);
  const decided = decidePost(asker, parsed.messages, info);
  return { body, protocolVersion: info.version, initialize, decided };
}
