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

describe('an upstream repeating its headers: what was scrubbed is kept only while the set of secrets stays the same', () => {
  const LATER = 'sk-live-later-lease-0a9b8c7d6e5f4a3b2c1d';

  it('a text that passed unmasked is masked as soon as a secret it holds becomes known (a new lease)', () => {
    const r = registry();
    const values = ['application/json', `x-echo=${LATER}`];
    expect(scrubTexts(r.index, values)).toBe(values); // nothing to mask yet: the same array back
    expect(scrubTexts(r.index, values)).toBe(values); // and again, from what was kept
    r.addStatic('leases', LATER);
    expect(scrubTexts(r.index, values)).toEqual(['application/json', `x-echo=${'*'.repeat(LATER.length)}`]);
  });

  it('a kept masked result is the one a fresh scan gives, and goes when the secret does', () => {
    const r = registry();
    const values = [`${SECRET}`, 'ok'];
    const first = scrubTexts(r.index, values);
    expect(scrubTexts(r.index, values)).toBe(first);
    expect(first).toEqual(['*'.repeat(SECRET.length), 'ok']);
    r.setStatic('targets', []);
    r.addStatic('other', LATER); // still some secret held, so the text is scanned (not the no-secret shortcut)
    expect(scrubTexts(r.index, values)).toBe(values);
  });

  it('a reference only counted (the same lease pinned by another request) keeps what was kept', () => {
    const r = registry();
    const before = r.index.generation;
    r.addStatic('again', SECRET); // the same value from another group: one more reference
    expect(r.index.generation).toBe(before);
  });
});
