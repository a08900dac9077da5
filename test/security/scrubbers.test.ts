import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maskInPlace, ScrubStream, scrubNeedles } from '../../gateway/proxy/scrub.js';
import { WebSocketScrubber } from '../../gateway/proxy/ws-frames.js';
import { FrameReader, frame } from './support/ws.js';

// Self-overlapping on purpose ("abab…"): the hardest case for holding back a partial match.
const SECRET = 'abab-c4/+=';
const needles = scrubNeedles([SECRET]);
const text = fc
  .array(fc.oneof(fc.constantFrom(SECRET, 'ab', 'abab-', 'a', '-c4', '/+='), fc.string({ maxLength: 6 })), {
    maxLength: 20,
  })
  .map((parts) => parts.join(''));

/** Split `buf` at the given (sorted, deduplicated) cut points. */
function cut(buf: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...at, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out.filter((b) => b.length > 0);
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('the streaming scrubber masks exactly what a whole-body scrub masks, however the body is chunked', () => {
  it('equals maskInPlace over the whole body for any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(text, fc.array(fc.nat(), { maxLength: 8 }), async (body, points) => {
        const whole = Buffer.from(body);
        const expected = Buffer.from(whole);
        maskInPlace(expected, needles);
        const out = await collect(Readable.from(cut(whole, points)).pipe(new ScrubStream(needles)));
        expect(out.toString()).toBe(expected.toString());
        expect(out.toString()).not.toContain(SECRET);
      }),
      { numRuns: 400 },
    );
  });
});

describe('the WebSocket frame scrubber masks secrets across fragments and keeps messages intact', () => {
  const message = fc.tuple(text, fc.array(fc.nat(), { maxLength: 4 }), fc.boolean());

  it('yields the same messages, each masked as a whole, for any fragmentation, pings and chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (msgs, points) => {
          const frames: Buffer[] = [];
          for (const [body, fragmentAt, ping] of msgs) {
            const parts = cut(Buffer.from(body), fragmentAt);
            if (parts.length === 0) parts.push(Buffer.alloc(0));
            parts.forEach((p, i) => {
              frames.push(frame(i === 0 ? 0x1 : 0x0, p, { fin: i === parts.length - 1 }));
              if (ping && i === 0) frames.push(frame(0x9, SECRET));
            });
          }
          const out = await collect(
            Readable.from(cut(Buffer.concat(frames), points)).pipe(new WebSocketScrubber(needles)),
          );
          const reader = new FrameReader();
          reader.push(out);
          const expected = msgs.map(([body]) => {
            const b = Buffer.from(body);
            maskInPlace(b, needles);
            return b.toString();
          });
          expect(reader.messages()).toEqual(expected);
          for (const f of reader.frames.filter((f) => f.opcode === 0x9))
            expect(f.payload.toString()).toBe('*'.repeat(SECRET.length));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses masked or compressed (RSV1) frames from the upstream', async () => {
    const masked = Readable.from([frame(0x1, 'x', { mask: true })]).pipe(new WebSocketScrubber(needles));
    await expect(collect(masked)).rejects.toThrow(/cannot be scrubbed/);
    const compressed = Buffer.from(frame(0x1, 'x'));
    compressed[0] = compressed[0]! | 0x40;
    await expect(collect(Readable.from([compressed]).pipe(new WebSocketScrubber(needles)))).rejects.toThrow(
      /cannot be scrubbed/,
    );
  });
});
