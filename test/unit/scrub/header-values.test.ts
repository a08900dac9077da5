import { describe, expect, it } from 'vitest';
import { finishResponseHeaders } from '../../../gateway/pipeline/scrub.js';
import { SecretRegistry } from '../../../gateway/scrub/registry.js';
import { scrubTexts } from '../../../gateway/scrub/stream.js';
import type { TargetRuntime } from '../../../gateway/targets.js';

const SECRET = 'sk-live-canary-5f1e2d3c4b5a69788796';
const registry = () => {
  const r = new SecretRegistry({ now: () => 0 });
  r.addStatic('targets', SECRET);
  return r;
};

describe('response header values are scrubbed in one pass, each masked in place', () => {
  it('masks the secret in whichever values reflect it, in any form, and leaves the others byte for byte', () => {
    const { index } = registry();
    const values = [
      'application/json',
      `session=${SECRET}; Path=/`,
      `token=${Buffer.from(SECRET).toString('base64')}`,
      'plain value',
      `ünïcode ${encodeURIComponent(SECRET)} ✓`,
      `${SECRET}`,
    ];
    const out = scrubTexts(index, values);
    expect(out).toHaveLength(values.length);
    expect(out.map((v) => v.length)).toEqual(values.map((v) => v.length)); // masks keep lengths
    expect(out[0]).toBe('application/json');
    expect(out[3]).toBe('plain value');
    for (const i of [1, 2, 4, 5]) {
      expect(out[i]).not.toContain(SECRET);
      expect(out[i]).not.toBe(values[i]);
    }
    expect(out[2]).not.toContain(Buffer.from(SECRET).toString('base64').slice(0, 16));
    expect(out[4]).toMatch(/^ünïcode \*+ ✓$/);
    expect(out[5]).toBe('*'.repeat(SECRET.length));
  });

  it('a secret split across two header values is still masked (a reflecting upstream cannot hide it in the seam)', () => {
    const { index } = registry();
    const half = Math.floor(SECRET.length / 2);
    // The values are scanned as lines of one text, and the decoded views read across a line break (base64 wraps):
    // a secret cut in two across two headers is masked in both (scrubbed one value at a time, neither half was).
    expect(scrubTexts(index, [SECRET.slice(0, half), SECRET.slice(half)])).toEqual([
      '*'.repeat(half),
      '*'.repeat(SECRET.length - half),
    ]);
    expect(scrubTexts(index, [`x${SECRET}`, `${SECRET}y`])).toEqual([
      `x${'*'.repeat(SECRET.length)}`,
      `${'*'.repeat(SECRET.length)}y`,
    ]);
  });

  it('finishResponseHeaders masks multi-valued headers (set-cookie) value by value and keeps their order', () => {
    const { index } = registry();
    const target = { origin: 'http://127.0.0.1:1', basePath: '', config: { name: 't' } } as unknown as TargetRuntime;
    const headers = finishResponseHeaders(
      { 'set-cookie': ['a=1', `b=${SECRET}`, 'c=3'], 'x-echo': SECRET, 'content-type': 'text/plain' },
      target,
      index,
    );
    expect(headers['set-cookie']).toEqual(['a=1', `b=${'*'.repeat(SECRET.length)}`, 'c=3']);
    expect(headers['x-echo']).toBe('*'.repeat(SECRET.length));
    expect(headers['content-type']).toBe('text/plain');
  });
});
