import { describe, expect, it } from 'vitest';
import { responseLength } from '../../bench/lib/loadgen.js';

const b = (s: string) => Buffer.from(s);

describe('the bench load generator finds where each keep-alive response ends', () => {
  it('uses Content-Length, and waits for the whole body', () => {
    const whole = 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello';
    expect(responseLength(b(whole))).toBe(whole.length);
    expect(responseLength(b(whole.slice(0, -1)))).toBe(-1);
    expect(responseLength(b(`${whole}HTTP/1.1 200`))).toBe(whole.length);
  });

  it('follows chunked framing to the last chunk', () => {
    const whole = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n';
    expect(responseLength(b(whole))).toBe(whole.length);
    expect(responseLength(b(whole.slice(0, -2)))).toBe(-1);
  });

  it('treats a response with neither as having no body', () => {
    const head = 'HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n';
    expect(responseLength(b(head))).toBe(head.length);
  });
});
