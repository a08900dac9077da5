import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBody } from '../../../gateway/mcp/jsonrpc.js';

const options = { maxDepth: 8, maxBatch: 4, batches: true };
const parse = (text: string, o = options) => parseBody(Buffer.from(text), o);

describe('parseBody reads MCP JSON-RPC strictly', () => {
  it('classifies requests, notifications and responses', () => {
    const batch = parse(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 's1', result: {} },
      ]),
    );
    expect(batch.ok && batch.messages.map((m) => m.kind)).toEqual(['request', 'notification', 'response']);
  });

  it.each([
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'parse_error'],
    ['a byte-order mark', Buffer.from('\ufeff{"jsonrpc":"2.0","id":1,"method":"ping"}'), 'parse_error'],
    ['empty', Buffer.alloc(0), 'parse_error'],
  ])('refuses a body that is %s', (_name, body, reason) => {
    const parsed = parseBody(body, options);
    expect(parsed.ok ? undefined : parsed.failure.reason).toBe(reason);
  });

  it.each([
    ['a null id', '{"jsonrpc":"2.0","id":null,"method":"ping"}'],
    ['a fractional id', '{"jsonrpc":"2.0","id":1.5,"method":"ping"}'],
    ['an id beyond 2^53', '{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}'],
    ['params as an array', '{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}'],
    ['an unknown member', '{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}'],
    ['a method and a result', '{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}'],
    ['a response with both result and error', '{"jsonrpc":"2.0","id":1,"result":{},"error":{}}'],
    ['an empty batch', '[]'],
    [
      'a batch with two calls of one id',
      '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"ping"}]',
    ],
  ])('refuses %s as an invalid request', (_name, text) => {
    const parsed = parse(text);
    expect(parsed.ok ? undefined : parsed.failure.reason).toBe('invalid_request');
  });

  it('refuses duplicate members at any depth, escaped or not', () => {
    for (const text of [
      '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/list"}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"a":1,"\\u0061":2},"name":"x"}}',
    ]) {
      const parsed = parse(text);
      expect(parsed.ok ? undefined : parsed.failure.reason).toBe('duplicate_member');
    }
    // The same name in two different objects is fine.
    expect(parse('{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":{"n":1},"b":{"n":1}}}').ok).toBe(true);
  });

  it('counts depth across arrays and objects, and bounds batches', () => {
    const deep = (n: number) => `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":${'['.repeat(n)}${']'.repeat(n)}}}`;
    expect(parse(deep(6)).ok).toBe(true);
    const refused = parse(deep(7));
    expect(refused.ok ? undefined : refused.failure.reason).toBe('too_deep');
    const five = JSON.stringify([1, 2, 3, 4, 5].map((id) => ({ jsonrpc: '2.0', id, method: 'ping' })));
    const big = parse(five);
    expect(big.ok ? undefined : big.failure.reason).toBe('batch_too_large');
    const off = parse('[{"jsonrpc":"2.0","id":1,"method":"ping"}]', { ...options, batches: false });
    expect(off.ok ? undefined : off.failure.reason).toBe('batch_not_allowed');
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        parseBody(Buffer.from(bytes), options);
      }),
    );
    fc.assert(
      fc.property(fc.json(), (text) => {
        const parsed = parse(text);
        if (parsed.ok) expect(parsed.messages.length).toBeGreaterThan(0);
      }),
    );
  });
});
