import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecretRegistry } from '../../../gateway/scrub/registry.js';
import { StreamScrubber } from '../../../gateway/scrub/stream.js';

const SECRET = 'sk-live-canary-0a1b2c3d4e5f6a7b8c9d';
const MASK = '*'.repeat(SECRET.length);

function scrub(index: SecretRegistry['index'], chunks: readonly string[], sse = false): string {
  const s = new StreamScrubber(index, { sse });
  for (const c of chunks) s.push(Buffer.from(c));
  return s.end().toString();
}

describe('a stream scanner hands its arrays to the next stream, and nothing of it goes along', () => {
  it('an ended stream that held half a secret does not complete a match in the next one (each stream starts with an empty history)', () => {
    const { index } = new SecretRegistry({ now: () => 0 });
    index.add(SECRET);
    const half = 18;
    // The first stream ends on the secret's first half; the next starts with its second half: two answers, neither
    // holding the secret, so neither is masked (a stale history would mask the second).
    expect(scrub(index, [`xx ${SECRET.slice(0, half)}`])).toBe(`xx ${SECRET.slice(0, half)}`);
    expect(scrub(index, [`${SECRET.slice(half)} yy`])).toBe(`${SECRET.slice(half)} yy`);
    // …and a secret split across two chunks of one stream still is.
    expect(scrub(index, [`a ${SECRET.slice(0, half)}`, `${SECRET.slice(half)} b`])).toBe(`a ${MASK} b`);
  });

  it('scanning after the end throws (its arrays may be another stream’s by then): fails closed', () => {
    const { index } = new SecretRegistry({ now: () => 0 });
    index.add(SECRET);
    const s = new StreamScrubber(index);
    s.push(Buffer.from('hello'));
    expect(s.end().toString()).toBe('hello');
    expect(s.end().length).toBe(0); // ending twice is harmless
    expect(() => s.push(Buffer.from(SECRET))).toThrow(/after its stream ended/);
  });

  it('streams one after another, in any chunking and encoding, are each masked as if alone', () => {
    const { index } = new SecretRegistry({ now: () => 0 });
    index.add(SECRET);
    const forms = [SECRET, encodeURIComponent(SECRET).replace(/-/g, '%2D'), Buffer.from(SECRET).toString('base64')];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            before: fc.string({ maxLength: 40 }),
            form: fc.integer({ min: 0, max: forms.length - 1 }),
            cuts: fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 4 }),
            sse: fc.boolean(),
          }),
          { minLength: 2, maxLength: 8 },
        ),
        (streams) => {
          for (const { before, form, cuts, sse } of streams) {
            const text = `${before.replace(/[*\r\n]/g, '')}${forms[form]} end`;
            const chunks: string[] = [];
            let at = 0;
            for (const cut of cuts) {
              if (at + cut >= text.length) break;
              chunks.push(text.slice(at, at + cut));
              at += cut;
            }
            chunks.push(text.slice(at));
            const out = scrub(index, chunks, sse);
            expect(out.length).toBe(Buffer.byteLength(text));
            expect(out).not.toContain(forms[form]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
