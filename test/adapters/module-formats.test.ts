import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAdapter } from '../../adapters/registry.js';
import type { CredentialConfig } from '../../gateway/config/schema.js';
import { canary, testContext } from '../unit/adapters/context.js';

/**
 * User adapters load by Node's rules on Node 20.18, the oldest Escrow supports: `.mjs` is an ES module, `.cjs`
 * CommonJS, and `.js` follows the nearest package.json's "type". Node 20.19+ would also guess an ES module from
 * its syntax, so a plain `.js` adapter that worked on a developer's machine failed in production on 20.18, with
 * its reason hidden. Escrow now decides the format itself (the same on every Node) and shows the reason.
 */
const dir = mkdtempSync(join(tmpdir(), 'escrow-module-formats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Two package scopes, pinned by their own package.json whatever lies above the temporary directory.
const scopes = { commonjs: join(dir, 'cjs'), module: join(dir, 'esm') };
mkdirSync(scopes.commonjs);
mkdirSync(scopes.module);
writeFileSync(join(scopes.commonjs, 'package.json'), '{"name": "platform-adapters"}');
writeFileSync(join(scopes.module, 'package.json'), '{"name": "platform-adapters", "type": "module"}');

const SECRET = canary('module-load');
const context = testContext({ MODULE_SECRET: SECRET }, { baseDir: dir });
const adapter = `{ kind: 'm', async issue(s) { return { fields: { k: 'v' }, ttlSeconds: s.ttlSeconds, wireForms: ['v'] }; }, inject(r) { r.headers.x = 'v'; } }`;
const ESM = `export default () => (${adapter});\n`;
const CJS = `module.exports = () => (${adapter});\n`;

function file(scope: keyof typeof scopes, name: string, source: string): string {
  writeFileSync(join(scopes[scope], name), source);
  return `./${scope === 'commonjs' ? 'cjs' : 'esm'}/${name}`;
}

const build = (path: string, extra: Record<string, unknown> = {}) =>
  createAdapter({ adapter: path, ttl: 60, ...extra } as CredentialConfig, context);
const refusal = (path: string, extra: Record<string, unknown> = {}) =>
  build(path, extra).then(
    () => {
      throw new Error('expected the module to be refused');
    },
    (e: Error & { code?: string }) => e,
  );

describe('adapter modules load as .mjs, .cjs or .js by Node 20.18’s rules, on any Node', () => {
  it.each([
    ['an ES module as .mjs', () => file('commonjs', 'a.mjs', ESM)],
    ['CommonJS as .cjs', () => file('module', 'b.cjs', CJS)],
    ['an ES module as .js under "type": "module"', () => file('module', 'c.js', ESM)],
    ['CommonJS as .js without "type": "module"', () => file('commonjs', 'd.js', CJS)],
    ['CommonJS exporting { create }', () => file('commonjs', 'e.cjs', `exports.create = () => (${adapter});`)],
  ])('loads %s', async (_name, make) => {
    expect((await build(make())).kind).toBe('m');
  });

  it('refuses an ES module in a CommonJS .js file (Node 20.18 does), saying which package.json and how to fix it', async () => {
    const error = await refusal(file('commonjs', 'plain.js', ESM));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe(
      `targets[0].credential.adapter: cannot load module ./cjs/plain.js: it is an ES module, but Node loads this .js file as CommonJS (${join(scopes.commonjs, 'package.json')} has no "type": "module"): name it .mjs, or add {"type": "module"} to a package.json beside it`,
    );
  });

  it('shows why a module failed to load: CommonJS in an ES module scope, a syntax error, a missing import', () => {
    // Through Node's own loader, as in production (vitest runs dynamic imports through its module runner).
    const paths = [
      file('module', 'cjs-in-esm.js', CJS),
      file('module', 'broken.mjs', 'export default () => {'),
      file('module', 'dep.mjs', `import x from './nowhere.mjs';\n${ESM}`),
    ];
    const out = loadWith(process.execPath, paths).out;
    expect(out[paths[0]!]).toBe(
      `targets[0].credential.adapter: cannot load module ./esm/cjs-in-esm.js: it is CommonJS (module.exports), but Node loads this file as an ES module (${join(scopes.module, 'package.json')} has "type": "module"): name it .cjs`,
    );
    expect(out[paths[1]!]).toBe(
      'targets[0].credential.adapter: cannot load module ./esm/broken.mjs: Unexpected end of input',
    );
    expect(out[paths[2]!]).toMatch(
      /cannot load module \.\/esm\/dep\.mjs: Cannot find module '.*nowhere\.mjs' imported from/,
    );
  });

  it('refuses other extensions, whose format Node would decide differently by version', async () => {
    expect((await refusal(file('module', 'f.ts', ESM))).message).toContain(
      'must be a .mjs, .cjs or .js file (got ".ts")',
    );
  });

  it('cuts a referenced secret out of a load error: a module whose top level throws with the value it read', async () => {
    const leaky = file(
      'module',
      'leaky.mjs',
      `throw new Error('cannot start with ' + process.env.H16_MODULE_SECRET);\n`,
    );
    process.env.H16_MODULE_SECRET = SECRET;
    try {
      const error = await refusal(leaky, { key: 'env:MODULE_SECRET' });
      expect(error.message).toBe(
        'targets[0].credential.adapter: cannot load module ./esm/leaky.mjs: cannot start with <redacted>',
      );
      expect(error.message).not.toContain(SECRET);
      expect(JSON.stringify(error)).not.toContain(SECRET);
      expect(error.cause).toBeUndefined();
    } finally {
      delete process.env.H16_MODULE_SECRET;
    }
  });
});

/** Load each module path with `node` through the built registry (dist/): the kind it built, or the error message. */
function loadWith(node: string, paths: readonly string[]): { version: string; out: Record<string, string> } {
  const registry = resolve(import.meta.dirname, '../../dist/adapters/registry.js');
  const script = `
    const { createAdapter } = await import(${JSON.stringify(registry)});
    const ctx = { resolveSecret: () => '', path: 'targets[0].credential', baseDir: ${JSON.stringify(dir)}, now: Date.now };
    const out = {};
    for (const p of ${JSON.stringify(paths)}) {
      out[p] = await createAdapter({ adapter: p, ttl: 60 }, ctx).then((a) => a.kind, (e) => e.message);
    }
    console.log(JSON.stringify({ version: process.version, out }));`;
  return JSON.parse(execFileSync(node, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

// Where a Node 20.18 binary is at hand (ESCROW_TEST_NODE_MIN=/path/to/node), the same modules are loaded by it
// through the built registry: the outcomes must be the ones above.
const minNode = process.env.ESCROW_TEST_NODE_MIN;
describe.runIf(minNode !== undefined && existsSync(minNode))('the same outcomes on the minimum supported Node', () => {
  it('loads .mjs/.cjs/.js by the rules above and refuses the ES module in a CommonJS .js', () => {
    const paths = ['./cjs/a.mjs', './esm/b.cjs', './esm/c.js', './cjs/d.js', './cjs/plain.js', './esm/cjs-in-esm.js'];
    const result = loadWith(minNode!, paths);
    expect(result.version).toMatch(/^v20\.18\./);
    expect(result.out).toMatchObject({ './cjs/a.mjs': 'm', './esm/b.cjs': 'm', './esm/c.js': 'm', './cjs/d.js': 'm' });
    expect(result.out['./cjs/plain.js']).toContain('it is an ES module, but Node loads this .js file as CommonJS');
    expect(result.out['./esm/cjs-in-esm.js']).toContain('it is CommonJS (module.exports), but Node loads this file');
  });
});
