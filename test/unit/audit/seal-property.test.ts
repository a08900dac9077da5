import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../gateway/audit/canonical.js';
import { verifyChain } from '../../../gateway/audit/index.js';
import { createSealer } from '../../../gateway/audit/seal.js';
import type { AuditEventInput } from '../../../gateway/audit/types.js';
import { Secret } from '../../../gateway/secret.js';

const leaf = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
  fc.constant(new Secret('canary-property-secret')),
  fc.constant('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjYW5hcnktand0In0.c2ln'),
);
/** Sometimes a member the log sets itself, to take the slow sealing path. */
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('time', 'seq', 'prev', 'hash', 'writer', 'refused'));
const value = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(key, tie('node'), { maxKeys: 4 }),
  ),
})).node;
const input = fc
  .tuple(fc.dictionary(key, value, { maxKeys: 6 }), fc.constantFrom('request', 'lease.issued', 'task.opened'))
  .map(([members, event]) => ({ ...members, event }) as AuditEventInput);

describe('every sealed event verifies, whatever its members (fast and slow sealing paths agree)', () => {
  it('a writer chain of arbitrary events verifies and never contains the canary', () => {
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 8 }), (events) => {
        const sealer = createSealer({ writerId: 'w', onRefusedField: () => {} });
        const lines = events.map((event, index) => sealer.seal(event, 1_700_000_000_000 + index));
        expect(verifyChain(lines)).toEqual({ ok: true, outcome: 'ok', events: lines.length, writers: 1, findings: [] });
        expect(lines.join('\n')).not.toContain('canary-property-secret');
        expect(lines.join('\n')).not.toContain('eyJhbGciOiJFUzI1NiJ9');
      }),
      { numRuns: 200 },
    );
  });

  it('canonical JSON of a value equals canonical JSON of its JSON round trip', () => {
    fc.assert(
      fc.property(value, (item) => {
        const text = JSON.stringify(item);
        if (text === undefined) return;
        expect(canonicalJson(item)).toBe(canonicalJson(JSON.parse(text)));
      }),
      { numRuns: 500 },
    );
  });
});
