import { isObject } from '../json.js';
import { scanJson } from './json-scan.js';

/** A JSON-RPC id as MCP allows it: a string or an integer (never null on a request). */
export type RpcId = string | number;

/** One JSON-RPC message of a request body, checked and classified. */
export interface RpcMessage {
  readonly kind: 'request' | 'notification' | 'response';
  /** Requests and responses. */
  readonly id?: RpcId;
  /** Requests and notifications (`''` for a response). */
  readonly method: string;
  /** `{}` when absent. */
  readonly params: Readonly<Record<string, unknown>>;
}

export type RpcFailureReason =
  | 'parse_error'
  | 'invalid_request'
  | 'too_deep'
  | 'duplicate_member'
  | 'batch_not_allowed'
  | 'batch_too_large';

/** Why a body is refused, with the id to answer (null when it cannot be known). */
export interface RpcFailure {
  readonly reason: RpcFailureReason;
  readonly message: string;
  readonly id: RpcId | null;
}

export type ParsedBody =
  | { readonly ok: true; readonly messages: readonly RpcMessage[]; readonly batch: boolean }
  | { readonly ok: false; readonly failure: RpcFailure };

export interface ParseOptions {
  readonly maxDepth: number;
  readonly maxBatch: number;
  /** Only protocol revision 2025-03-26 allows batches (2025-06-18 removed them). */
  readonly batches: boolean;
}

const MEMBERS = new Set(['jsonrpc', 'id', 'method', 'params', 'result', 'error']);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fail(reason: RpcFailureReason, message: string, id: RpcId | null = null): ParsedBody {
  return { ok: false, failure: { reason, message, id } };
}

function isId(value: unknown): value is RpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value));
}

/** One message, or a reason it is not a JSON-RPC 2.0 message MCP accepts. */
function readMessage(value: unknown): RpcMessage | string {
  if (!isObject(value)) return 'a JSON-RPC message must be an object';
  for (const key of Object.keys(value)) if (!MEMBERS.has(key)) return `unknown member "${key.slice(0, 40)}"`;
  if (value.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  const hasId = Object.hasOwn(value, 'id');
  if (hasId && !isId(value.id)) return 'id must be a string or an integer';
  if (value.params !== undefined && !isObject(value.params)) return 'params must be an object';
  const params = (value.params as Record<string, unknown> | undefined) ?? {};
  if (Object.hasOwn(value, 'method')) {
    if (typeof value.method !== 'string' || value.method === '') return 'method must be a non-empty string';
    if (Object.hasOwn(value, 'result') || Object.hasOwn(value, 'error')) return 'a request carries no result';
    const base = { method: value.method, params };
    return hasId ? { kind: 'request', id: value.id as RpcId, ...base } : { kind: 'notification', ...base };
  }
  if (!hasId) return 'a message needs a method or an id';
  if (Object.hasOwn(value, 'result') === Object.hasOwn(value, 'error')) return 'a response has a result or an error';
  if (Object.hasOwn(value, 'error') && !isObject(value.error)) return 'error must be an object';
  return { kind: 'response', id: value.id as RpcId, method: '', params: {} };
}

function readBatch(values: unknown[], options: ParseOptions): ParsedBody {
  if (!options.batches) return fail('batch_not_allowed', 'this protocol revision has no JSON-RPC batches');
  if (values.length === 0) return fail('invalid_request', 'an empty batch');
  if (values.length > options.maxBatch) return fail('batch_too_large', `at most ${options.maxBatch} calls per batch`);
  const messages: RpcMessage[] = [];
  const ids = new Set<RpcId>();
  for (const value of values) {
    const message = readMessage(value);
    if (typeof message === 'string') return fail('invalid_request', message);
    // Two calls with one id would make their answers ambiguous (and list filtering would guess).
    if (message.id !== undefined && message.kind !== 'response') {
      if (ids.has(message.id)) return fail('invalid_request', 'two calls of the batch share an id');
      ids.add(message.id);
    }
    messages.push(message);
  }
  return { ok: true, messages, batch: true };
}

/**
 * Read a POST body as MCP's JSON-RPC: strict UTF-8, no duplicate members, bounded depth and batch size, every
 * message well formed (a batch is refused whole if one of its messages is not). Nothing here throws.
 */
export function parseBody(body: Buffer, options: ParseOptions): ParsedBody {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return fail('parse_error', 'the body is not UTF-8');
  }
  const problem = scanJson(text, options.maxDepth);
  if (problem === 'too_deep') return fail('too_deep', `JSON nests at most ${options.maxDepth} levels deep`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('parse_error', 'the body is not JSON');
  }
  if (problem === 'duplicate_member') return fail('duplicate_member', 'an object names a member twice');
  if (Array.isArray(value)) return readBatch(value, options);
  const message = readMessage(value);
  if (typeof message === 'string') {
    const id = isObject(value) && isId(value.id) ? value.id : null;
    return fail('invalid_request', message, id);
  }
  return { ok: true, messages: [message], batch: false };
}
