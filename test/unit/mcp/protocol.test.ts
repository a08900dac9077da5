import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { RpcMessage } from '../../../gateway/mcp/jsonrpc.js';
import { checkMirroredHeaders, decodeHeaderValue, protocolOf } from '../../../gateway/mcp/protocol.js';

const req = (headers: Record<string, string | string[]>) =>
  ({
    rawHeaders: Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).flatMap((one) => [k, one])),
  }) as unknown as IncomingMessage;

const META = { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } };
const toolCall = (name: string): RpcMessage => ({
  kind: 'request',
  id: 1,
  method: 'tools/call',
  params: { name, ...META },
});
const modern = { version: '2026-07-28', modern: true, batches: false };

describe('the headers that mirror a JSON-RPC body', () => {
  it('decodes the base64 sentinel form, and refuses a non-canonical one', () => {
    expect(decodeHeaderValue('=?base64?SGVsbG8sIOS4lueVjA==?=')).toBe('Hello, 世界');
    expect(decodeHeaderValue('plain')).toBe('plain');
    expect(decodeHeaderValue('=?base64?SGVsbG8?=')).toBeUndefined(); // unpadded: not what a client writes
  });

  it('requires Mcp-Method and Mcp-Name in 2026-07-28 and compares them with the body', () => {
    const ok = req({ 'mcp-method': 'tools/call', 'mcp-name': 'search' });
    expect(checkMirroredHeaders(ok, modern, toolCall('search'))).toBeUndefined();
    expect(checkMirroredHeaders(ok, modern, toolCall('delete_all'))?.problem).toBe('header_mismatch');
    expect(checkMirroredHeaders(req({ 'mcp-method': 'tools/call' }), modern, toolCall('search'))).toBeDefined();
    expect(checkMirroredHeaders(req({}), modern, toolCall('search'))).toBeDefined();
    const encoded = req({ 'mcp-method': 'tools/call', 'mcp-name': '=?base64?c2VhcmNo?=' });
    expect(checkMirroredHeaders(encoded, modern, toolCall('search'))).toBeUndefined();
  });

  it('refuses a 2026-07-28 request whose _meta names another revision', () => {
    const message: RpcMessage = { kind: 'request', id: 1, method: 'ping', params: {} };
    expect(checkMirroredHeaders(req({ 'mcp-method': 'ping' }), modern, message)?.message).toMatch(/_meta/);
  });

  it('checks them in earlier revisions only when present', () => {
    const legacy = { version: '2025-11-25', modern: false, batches: false };
    expect(checkMirroredHeaders(req({}), legacy, toolCall('search'))).toBeUndefined();
    expect(checkMirroredHeaders(req({ 'mcp-name': 'other' }), legacy, toolCall('search'))).toBeDefined();
  });

  it('reads the revision: absent is 2025-03-26 (the only one with batches), repeated is refused', () => {
    expect(protocolOf(req({}))).toEqual({ version: '2025-03-26', modern: false, batches: true });
    expect(protocolOf(req({ 'mcp-protocol-version': '2026-07-28' }))).toMatchObject({ modern: true, batches: false });
    expect(protocolOf(req({ 'mcp-protocol-version': ['2025-11-25', '2025-03-26'] }))).toHaveProperty('problem');
  });
});
