import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  configJsonSchema,
  END,
  PAGE,
  renderPage,
  renderReference,
  rows,
  undescribedKeys,
} from '../../scripts/config-reference.js';

const committed = () => readFileSync(PAGE, 'utf8');

describe('docs/configuration.md: the key reference is rendered from the config schema alone and cannot drift', () => {
  it('equals what scripts/config-reference.ts renders now', () => {
    const page = committed();
    expect(page, 'docs/configuration.md is stale: run `npm run docs:config`').toBe(renderPage(page));
  });

  it('gives every key of the schema, leaves and the objects above them, a .describe() text', () => {
    const schema = configJsonSchema();
    expect(rows(schema).filter((r) => r.leaf).length).toBeGreaterThan(100);
    expect(undescribedKeys(schema), 'add .describe() to these keys, then run `npm run docs:config`').toEqual([]);
  });

  it('has no table row outside the generated part, and a row for each key of the schema inside it', () => {
    const page = committed();
    const after = page.slice(page.indexOf(END));
    const before = page.slice(0, page.indexOf('<!-- BEGIN config-reference'));
    expect(`${before}${after}`).not.toMatch(/^\|/m);
    const listed = [...page.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(
      rows(configJsonSchema())
        .map((r) => r.path)
        .sort(),
    );
  });

  it('renders type, default, allowed values and description from the JSON Schema, and statuses from PROBLEMS', () => {
    const schema = z.toJSONSchema(
      z.strictObject({
        mode: z.enum(['a', 'b']).default('a').describe('The mode.'),
        size: z.number().int().min(1).max(9).describe('A size | with a pipe.'),
      }),
      { io: 'input' },
    );
    const text = renderReference(schema as Parameters<typeof renderReference>[0]);
    expect(text).toContain('| `mode` | `"a"` \\| `"b"` | `"a"` | The mode. |');
    expect(text).toContain('| `size` | integer 1–9 | **required** | A size \\| with a pipe. |');
    expect(committed()).toMatch(/`targets\[\]\.circuitBreaker\.failureThreshold` .* 503 `circuit_open`/);
  });
});
