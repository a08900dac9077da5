import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ScrubStream } from '../../../gateway/proxy/scrub.js';
import { NeedleIndex } from '../../../gateway/scrub/index.js';
import { FakeClock } from '../../support/fake-clock.js';

const SECRET = 'sse-secret-0123456789abcdef';
const index = new NeedleIndex();
index.add(SECRET);

/** Push chunks at fake times; return the pushes with the fake time each happened at. */
function drive(stream: ScrubStream, clock: FakeClock, steps: [number, string][]): { at: number; text: string }[] {
  const out: { at: number; text: string }[] = [];
  stream.on('data', (c: Buffer) => out.push({ at: clock.now(), text: c.toString() }));
  for (const [wait, text] of steps) {
    clock.advance(wait);
    stream.write(Buffer.from(text));
  }
  return out;
}

describe('the release rule: a fixed window, and each byte at most flushAfterMs after it arrived', () => {
  it('releases a held tail at its deadline, not before, whatever it is', () => {
    for (const tail of [SECRET.slice(0, 10), 'x'.repeat(10)]) {
      const clock = new FakeClock();
      const stream = new ScrubStream(index, { flushAfterMs: 100, clock });
      const out = drive(stream, clock, [[0, `event: a\n${tail}`]]);
      expect(out).toEqual([]);
      clock.advance(99);
      expect(out).toEqual([]);
      clock.advance(1);
      expect(out).toEqual([{ at: 100, text: `event: a\n${tail}` }]);
    }
  });

  it('masks a secret whose pieces arrive within flushAfterMs, and only the held part of a slower one', () => {
    const clock = new FakeClock();
    const fast = new ScrubStream(index, { flushAfterMs: 100, clock });
    const out = drive(fast, clock, [
      [0, `a ${SECRET.slice(0, 9)}`],
      [60, `${SECRET.slice(9)} b`],
    ]);
    clock.advance(200);
    expect(out.map((o) => o.text).join('')).toBe(`a ${'*'.repeat(SECRET.length)} b`);

    const slow = new ScrubStream(index, { flushAfterMs: 100, clock });
    const late = drive(slow, clock, [
      [0, `a ${SECRET.slice(0, 9)}`],
      [150, `${SECRET.slice(9)} b`],
    ]);
    clock.advance(200);
    expect(late.map((o) => o.text).join('')).toBe(`a ${SECRET.slice(0, 9)}${'*'.repeat(SECRET.length - 9)} b`);
  });

  it('masks a secret split across SSE events (only its pieces, never the framing)', () => {
    const clock = new FakeClock();
    const stream = new ScrubStream(index, { flushAfterMs: 100, clock, sse: true });
    const events = [
      `data: ${SECRET.slice(0, 6)}\n\n`,
      `event: delta\nid: 7\ndata: ${SECRET.slice(6, 20)}\n\n`,
      `data: ${SECRET.slice(20)}\n\n`,
    ];
    const out = drive(
      stream,
      clock,
      events.map((e) => [10, e] as [number, string]),
    );
    stream.end();
    const text = out.map((o) => o.text).join('');
    expect(text).toBe(
      events.join('').replace(/(data: )([^\n]+)/g, (_m, d: string, v: string) => d + '*'.repeat(v.length)),
    );
    expect(text).toContain('event: delta\nid: 7\n');
  });
});

describe('a decoded body is sent with its head once bytes are released', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('SSE through a real response: the first event arrives at its deadline, before the stream ends', async () => {
    const { ScrubSink } = await import('../../../gateway/pipeline/lib/scrub-sink.js');
    const { StreamScrubber } = await import('../../../gateway/scrub/stream.js');
    const clock = new FakeClock();
    let sink: InstanceType<typeof ScrubSink> | undefined;
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sink = new ScrubSink(res, { scrubber: new StreamScrubber(index, { sse: true }), flushAfterMs: 100, clock });
      sink.write(Buffer.from('data: first\n\n'));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const received: string[] = [];
    const done = new Promise<void>((resolve) => {
      get({ port: (server!.address() as AddressInfo).port, host: '127.0.0.1', agent: false }, (res) => {
        res.on('data', (c: Buffer) => {
          received.push(c.toString());
          if (received.length === 1) sink!.end(Buffer.from('data: last\n\n'));
        });
        res.on('end', resolve);
      });
    });
    while (!sink) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(received).toEqual([]); // held: no more bytes came to push it out
    clock.advance(100);
    await done;
    expect(received).toEqual(['data: first\n\n', 'data: last\n\n']);
  });
});
