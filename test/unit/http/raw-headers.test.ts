import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { headerCount, headerValues } from '../../../gateway/http/raw-headers.js';

/** What Node's `headersDistinct[name]` holds: every value whose name lower-cases to `name`, in order. */
function reference(raw: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) values.push(raw[i + 1]!);
  return values;
}

describe('header values read from rawHeaders are what headersDistinct would give', () => {
  // Names close to each other: capitals, `-` and `_`, and the characters whose 0x20 bit also makes a letter or `-`.
  const char = fc.constantFrom(
    'a',
    'A',
    'h',
    'H',
    'o',
    'O',
    's',
    'S',
    't',
    'T',
    '-',
    '_',
    '@',
    '`',
    '[',
    '{',
    '\r',
    '1',
  );
  const name = fc.oneof(
    fc.constantFrom('host', 'Host', 'HOST', 'hOsT', 'x-escrow-task', 'X-Escrow-Task', 'X_Escrow_Task', 'authorization'),
    fc.array(char, { minLength: 1, maxLength: 5 }).map((cs) => cs.join('')),
  );
  const raw = fc.array(fc.tuple(name, fc.string({ maxLength: 4 })), { maxLength: 12 }).map((pairs) => pairs.flat());
  const asked = fc.constantFrom('host', 'x-escrow-task', 'authorization', 'a', 'ha', 'a-', 'sat', 'os', 'h-a');

  it('for any names in any case, and the look-alikes that differ by one bit', () => {
    fc.assert(
      fc.property(raw, asked, (headers, lower) => {
        expect(headerValues(headers, lower)).toEqual(reference(headers, lower));
        expect(headerCount(headers, lower)).toBe(reference(headers, lower).length);
      }),
      { numRuns: 3000 },
    );
  });

  it('matches a name in any case, and never one a character of which differs in more than its case', () => {
    // Each character of the asked name as it is, upper-cased, or with its 0x20 bit flipped (`-` becomes CR).
    const variant = (lower: string) =>
      fc
        .array(fc.constantFrom(0, 1, 2), { minLength: lower.length, maxLength: lower.length })
        .map((how) =>
          [...lower]
            .map((c, i) =>
              how[i] === 0 ? c : how[i] === 1 ? c.toUpperCase() : String.fromCharCode(c.charCodeAt(0) ^ 0x20),
            )
            .join(''),
        );
    const askedName = fc.constantFrom('x-escrow-task', 'host', 'mcp-session-id', 'x-api-key2');
    fc.assert(
      fc.property(
        askedName.chain((lower) => fc.tuple(fc.constant(lower), fc.array(variant(lower), { maxLength: 4 }))),
        ([lower, names]) => {
          const headers = names.flatMap((n, i) => [n, `v${i}`]);
          expect(headerValues(headers, lower)).toEqual(reference(headers, lower));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('counts a duplicate sent in two cases as two (a smuggling attempt is still refused)', () => {
    const headers = ['Host', 'a.example', 'host', 'b.example', 'X-Escrow-Task', 'tsk_1', 'x-escrow-TASK', 'tsk_2'];
    expect(headerCount(headers, 'host')).toBe(2);
    expect(headerValues(headers, 'x-escrow-task')).toEqual(['tsk_1', 'tsk_2']);
    expect(headerValues(headers, 'authorization')).toEqual([]);
  });
});
