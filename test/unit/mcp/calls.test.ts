import { describe, expect, it } from 'vitest';
import { classify, isRefused, KNOWN_METHODS } from '../../../gateway/mcp/calls.js';
import type { RpcMessage } from '../../../gateway/mcp/jsonrpc.js';
import { methodLabel } from '../../../gateway/mcp/metrics.js';

const request = (method: string, params: Record<string, unknown> = {}): RpcMessage => ({
  kind: 'request',
  id: 1,
  method,
  params,
});

describe('an MCP method is known, labelled and authorized from one list', () => {
  it('refuses a method named after an Object.prototype member as unknown instead of finding it in a table', () => {
    for (const method of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const call = classify(request(method, { name: 'x', uri: 'x' }), '2025-06-18');
      expect(isRefused(call) && call.refused).toBe('unknown_method');
      expect(KNOWN_METHODS.has(method)).toBe(false);
      expect(methodLabel(method)).toBe('other');
    }
  });

  it('labels every method it authorizes with its own name, and an unknown one as other', () => {
    for (const method of [
      'initialize',
      'tools/list',
      'resources/templates/list',
      'tools/call',
      'completion/complete',
    ]) {
      expect(KNOWN_METHODS.has(method)).toBe(true);
      expect(methodLabel(method)).toBe(method);
    }
    expect(methodLabel('tools/destroy')).toBe('other');
    expect(isRefused(classify(request('tools/destroy'), '2025-06-18'))).toBe(true);
  });
});
