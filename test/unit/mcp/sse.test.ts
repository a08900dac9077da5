import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseSplitter, withData } from '../../../gateway/mcp/sse.js';

describe('SseSplitter', () => {
  it('finds events whatever the line endings and however the bytes are cut', () => {
    const stream = 'event: message\r\nid: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: comment\n\ndata: x\r\rdata: y\n\n';
    fc.assert(
      fc.property(fc.array(fc.nat(stream.length), { maxLength: 6 }), (cuts) => {
        const splitter = new SseSplitter(1024);
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const events = [];
        let from = 0;
        for (const to of [...points, stream.length]) {
          events.push(...splitter.push(Buffer.from(stream.slice(from, to))));
          from = to;
        }
        expect(splitter.end()).toBe('');
        expect(events.map((e) => e.data)).toEqual(['{"a":\n1}', undefined, 'x', 'y']);
        expect(events.map((e) => e.lines.join('')).join('')).toBe(stream);
      }),
    );
  });

  it('keeps a multi-byte character cut across chunks', () => {
    const bytes = Buffer.from('data: é\n\n');
    const splitter = new SseSplitter(64);
    expect(splitter.push(bytes.subarray(0, 7))).toEqual([]);
    expect(splitter.push(bytes.subarray(7)).map((e) => e.data)).toEqual(['é']);
  });

  it('refuses an event larger than its bound', () => {
    const splitter = new SseSplitter(16);
    expect(() => splitter.push(Buffer.from(`data: ${'x'.repeat(32)}`))).toThrow(/too large/);
  });

  it('replaces the data lines of an event and keeps its other fields', () => {
    const [event] = new SseSplitter(256).push(Buffer.from('event: message\r\nid: 7\r\ndata: a\r\ndata: b\r\n\r\n'));
    expect(withData(event!, '{"x":1}')).toBe('event: message\r\nid: 7\r\ndata: {"x":1}\n\r\n');
  });
});
