import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReference, tsdocByPath, undocumentedKeys } from '../../scripts/config-reference.js';

const COMMITTED = resolve(import.meta.dirname, '../../docs/configuration.md');

describe('docs/configuration.md is generated from the config schema and cannot drift', () => {
  it('equals what scripts/config-reference.ts generates now', () => {
    // On failure: npx tsx scripts/config-reference.ts > docs/configuration.md
    expect(readFileSync(COMMITTED, 'utf8')).toBe(renderReference());
  });

  it('describes every key (by .describe(), TSDoc in the schema, or the script’s notes)', () => {
    expect(undocumentedKeys()).toEqual([]);
  });

  it('reads TSDoc through schema constants and lists (proxy.tls, targets[], identity.issuers[])', () => {
    const docs = tsdocByPath();
    expect(docs.get('keys.leaseEncryptionPrevious')).toMatch(/rotation/);
    expect(docs.get('targets[].identityHeader')).toMatch(/workload token/);
    expect(docs.get('identity.issuers[].principal')).toMatch(/never by the token/);
  });
});
