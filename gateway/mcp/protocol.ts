import type { IncomingMessage } from 'node:http';
import { headerValues } from '../http/raw-headers.js';
import { MODERN_VERSIONS } from './config.js';
import type { RpcMessage } from './jsonrpc.js';

/** The protocol revision a request speaks, from `MCP-Protocol-Version`. */
export interface ProtocolInfo {
  readonly version: string;
  /** 2026-07-28 and later: stateless, and the request's headers mirror its body. */
  readonly modern: boolean;
  /** Only 2025-03-26 has JSON-RPC batches. */
  readonly batches: boolean;
}

/** Why a request's headers are refused: JSON-RPC error -32022 (version) or -32020 (headers vs body). */
export interface HeaderProblem {
  readonly problem: 'unsupported_version' | 'header_mismatch';
  readonly message: string;
}

/** A request without the header speaks 2025-03-26 (the revision before the header existed). */
export const UNVERSIONED = '2025-03-26';
const META_VERSION = 'io.modelcontextprotocol/protocolVersion';

function single(req: IncomingMessage, name: string): string | undefined | null {
  const values = headerValues(req.rawHeaders, name);
  if (values.length === 0) return undefined;
  return values.length === 1 ? values[0]! : null;
}

/**
 * The revision a request names in `MCP-Protocol-Version` (2025-03-26 without the header). Whether Escrow accepts it
 * is the caller's question: `initialize` carries no header yet, the server negotiates the revision in its answer.
 */
export function protocolOf(req: IncomingMessage): ProtocolInfo | HeaderProblem {
  const header = single(req, 'mcp-protocol-version');
  if (header === null) return { problem: 'header_mismatch', message: 'MCP-Protocol-Version is repeated' };
  const version = header ?? UNVERSIONED;
  return {
    version,
    modern: (MODERN_VERSIONS as readonly string[]).includes(version),
    batches: version === UNVERSIONED,
  };
}

/** `Mcp-Name` and `Mcp-Param-*` values may be `=?base64?…?=` (non-ASCII, padded or sentinel-like values). */
export function decodeHeaderValue(value: string): string | undefined {
  const match = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/.exec(value);
  if (match === null) return value;
  const bytes = Buffer.from(match[1]!, 'base64');
  if (bytes.toString('base64') !== match[1]) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function nameOf(message: RpcMessage): string | undefined {
  if (message.method === 'resources/read') return message.params.uri as string | undefined;
  if (message.method === 'tools/call' || message.method === 'prompts/get') return message.params.name as string;
  return undefined;
}

function mismatch(message: string): HeaderProblem {
  return { problem: 'header_mismatch', message: `Header mismatch: ${message}` };
}

/**
 * The request headers that mirror the body must say what the body says (2026-07-28 "Server Validation"): Escrow
 * authorizes the body, and a component behind it may route on the headers. Required in the modern revision, checked
 * whenever present in any revision.
 */
export function checkMirroredHeaders(
  req: IncomingMessage,
  info: ProtocolInfo,
  message: RpcMessage,
): HeaderProblem | undefined {
  const method = single(req, 'mcp-method');
  const rawName = single(req, 'mcp-name');
  if (method === null || rawName === null) return mismatch('a mirrored header is repeated');
  const isRequest = message.kind === 'request';
  if (method === undefined ? info.modern && isRequest : method !== message.method) {
    return mismatch('Mcp-Method does not match the body');
  }
  const expected = nameOf(message);
  const name = rawName === undefined ? undefined : decodeHeaderValue(rawName);
  if (name === undefined ? rawName !== undefined || (info.modern && expected !== undefined) : name !== expected) {
    return mismatch('Mcp-Name does not match the body');
  }
  if (info.modern && isRequest) {
    const meta = message.params._meta;
    const declared = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>)[META_VERSION] : '';
    if (declared !== info.version) return mismatch('MCP-Protocol-Version does not match _meta');
  }
  return undefined;
}

export function isHeaderProblem(value: ProtocolInfo | HeaderProblem): value is HeaderProblem {
  return 'problem' in value;
}
