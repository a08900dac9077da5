import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NeedleIndex } from '../../../gateway/scrub/index.js';
import { scrubText } from '../../../gateway/scrub/stream.js';

describe('the needle index stays exact through lease churn (removals, tag rebuilds, reused ids)', () => {
  it('masks exactly the live values after thousands of adds and removes', () => {
    const index = new NeedleIndex();
    const live = new Set<string>();
    const dead: string[] = [];
    for (let i = 0; i < 3_000; i++) {
      const value = `tok-${randomBytes(12).toString('base64url')}`;
      index.add(value);
      live.add(value);
      if (i % 3 !== 0) {
        const [first] = live;
        index.remove(first!);
        live.delete(first!);
        dead.push(first!);
      }
    }
    for (const value of [...live].slice(0, 50))
      expect(scrubText(index, `<${value}>`)).toBe(`<${'*'.repeat(value.length)}>`);
    for (const value of dead.slice(-50)) expect(scrubText(index, `<${value}>`)).toBe(`<${value}>`);
    expect(index.values).toBe(live.size);
  });

  it('counts references: a value shared by two leases stays until both are gone', () => {
    const index = new NeedleIndex();
    index.add('shared-static-key-01234');
    index.add('shared-static-key-01234');
    index.remove('shared-static-key-01234');
    expect(scrubText(index, 'shared-static-key-01234')).toBe('*'.repeat(23));
    index.remove('shared-static-key-01234');
    expect(scrubText(index, 'shared-static-key-01234')).toBe('shared-static-key-01234');
  });
});
