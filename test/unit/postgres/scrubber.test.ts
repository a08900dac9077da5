import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackendScrubber } from '../../../gateway/postgres/relay.js';
import { NeedleIndex } from '../../../gateway/scrub/index.js';

const SECRET = 'canary-role-password-9c1f';
const NEEDLES = new NeedleIndex();
NEEDLES.add(SECRET);

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

async function through(chunks: readonly Buffer[]): Promise<{ out: Buffer; writes: number }> {
  const scrubber = new BackendScrubber(NEEDLES);
  const parts: Buffer[] = [];
  scrubber.on('data', (c: Buffer) => parts.push(c));
  for (const chunk of chunks) scrubber.write(chunk);
  scrubber.end();
  await new Promise((resolve) => scrubber.once('end', resolve));
  return { out: Buffer.concat(parts), writes: parts.length };
}

function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

const arbMessage = fc.record({
  type: fc.constantFrom('D', 'T', 'C', 'Z', 'E', 'N', 'S'),
  text: fc.string({ maxLength: 80 }),
  withSecret: fc.boolean(),
});

describe('the relay masks the lease secret in ErrorResponse and NoticeResponse messages only, whatever the chunking', () => {
  it('keeps framing intact and masks only E/N (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbMessage, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (msgs, cuts) => {
          const input = msgs.map((m) =>
            message(m.type, Buffer.from(m.withSecret ? `${m.text}${SECRET}${m.text}` : m.text)),
          );
          const expected = msgs.map((m) => {
            const body = m.withSecret
              ? `${m.text}${m.type === 'E' || m.type === 'N' ? '*'.repeat(SECRET.length) : SECRET}${m.text}`
              : m.text;
            return message(m.type, Buffer.from(body));
          });
          const bytes = Buffer.concat(input);
          const { out } = await through(split(bytes, cuts));
          expect(out.equals(Buffer.concat(expected))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('passes a chunk of ordinary messages on as one write (no write per message)', async () => {
    const rows = Buffer.concat(Array.from({ length: 100 }, (_, i) => message('D', Buffer.from(`row ${i}`))));
    const { out, writes } = await through([rows]);
    expect(out.equals(rows)).toBe(true);
    expect(writes).toBe(1);
  });

  it('refuses a message length below 4 and a notice larger than 8 MiB', async () => {
    const bad = Buffer.from([0x44, 0, 0, 0, 2]);
    const scrubber = new BackendScrubber(NEEDLES);
    const failed = new Promise((resolve) => scrubber.once('error', resolve));
    scrubber.write(bad);
    expect(String(await failed)).toMatch(/invalid message length/);
    const huge = new BackendScrubber(NEEDLES);
    const tooBig = new Promise((resolve) => huge.once('error', resolve));
    huge.write(Buffer.from([0x4e, 0x01, 0, 0, 0]));
    huge.write(Buffer.alloc(9 * 1024 * 1024));
    expect(String(await tooBig)).toMatch(/oversized notice/);
  });
});
