import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasDuplicateMembers, isCanonicalBase64url } from '../../../gateway/identity/compact.js';

describe('the duplicate-member detector finds a name given twice in any object, and nothing else', () => {
  it.each([
    ['{"a":1,"a":2}', true],
    ['{"a":1,"\\u0061":2}', true],
    ['{"x":{"a":1,"a":2}}', true],
    ['{"x":[{"a":1},{"a":2}]}', false],
    ['{"a":{"a":{"a":1}}}', false],
    ['{"a":"\\"a\\":1","b":"a"}', false],
    ['{"a" : 1, "b": ["a", "a"], "c": "a:"}', false],
    ['{"a":{},"a":[]}', true],
  ])('%s → %s', (text, expected) => {
    expect(hasDuplicateMembers(text)).toBe(expected);
  });

  it('agrees with JSON.parse on arbitrary JSON without duplicates', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(hasDuplicateMembers(JSON.stringify(value))).toBe(false);
      }),
    );
  });
});

describe('canonical base64url is only the unpadded encoding that round-trips', () => {
  it.each([
    ['eyJhIjoxfQ', true],
    ['eyJhIjoxfQ==', false],
    ['eyJhIjox fQ', false],
    ['eyJhIjoxfR', false],
    ['a', false],
    ['ab+/', false],
  ])('%s → %s', (segment, expected) => {
    expect(isCanonicalBase64url(segment)).toBe(expected);
  });
});
