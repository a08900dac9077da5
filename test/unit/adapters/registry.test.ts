import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { contractScope } from '../../../adapters/contract.js';
import { builtinAdapters, createAdapter } from '../../../adapters/registry.js';
import type { CredentialConfig } from '../../../gateway/config/schema.js';
import { canary, testContext } from './context.js';

const dir = mkdtempSync(join(tmpdir(), 'escrow-adapters-'));
const secret = canary('registry');
const context = testContext({ MODULE_SECRET: secret }, { baseDir: dir });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function moduleFile(name: string, source: string): string {
  writeFileSync(join(dir, name), source);
  return `./${name}`;
}

const minimal = `{ kind: 'm', async issue(s) { return { fields: { k: 'v' }, ttlSeconds: s.ttlSeconds, wireForms: ['v'] }; }, inject(r) { r.headers.x = 'v'; } }`;

async function errorOf(credential: CredentialConfig): Promise<Error & { code?: string }> {
  return createAdapter(credential, context).then(
    () => {
      throw new Error('expected the adapter to be refused');
    },
    (e: Error & { code?: string }) => e,
  );
}

describe('the registry knows every built-in adapter', () => {
  it('lists them by kind', () => {
    expect([...builtinAdapters.keys()].sort()).toEqual(
      ['basic', 'header', 'hmac', 'jwt-bearer', 'oauth2-client-credentials', 'postgres', 'query', 'rabbitmq'].sort(),
    );
  });

  it('refuses an unknown kind, naming the path and the known kinds', async () => {
    const error = await errorOf({ adapter: 'ldap', ttl: 60 });
    expect(error.code).toBe('config_invalid');
    expect(error.message).toMatch(
      /^targets\[0\]\.credential\.adapter: unknown adapter "ldap" \(known: header, basic, query/,
    );
  });

  it('names the option whose secret reference does not resolve', async () => {
    const error = await errorOf({ adapter: 'header', ttl: 60, header: 'x-key', value: 'env:NOT_SET_ANYWHERE' });
    expect(error).toMatchObject({
      code: 'config_invalid',
      message: 'targets[0].credential.value: environment variable NOT_SET_ANYWHERE is not set',
    });
  });
});

describe('the registry loads user adapters by module path, relative to the config directory', () => {
  it('accepts a factory that returns the adapter, or a promise of it', async () => {
    const sync = moduleFile('sync.mjs', `export default () => (${minimal});`);
    const asyncPath = moduleFile('async.mjs', `export default async () => (${minimal});`);
    for (const adapter of [sync, asyncPath]) {
      const built = await createAdapter({ adapter, ttl: 60 }, context);
      expect((await built.issue(contractScope(30))).ttlSeconds).toBe(30);
    }
  });

  it('refuses a module that cannot be loaded, or has no factory, or builds no adapter', async () => {
    expect((await errorOf({ adapter: './missing.js', ttl: 60 })).message).toBe(
      `targets[0].credential.adapter: cannot load module ./missing.js: no such file: ${join(dir, 'missing.js')}`,
    );
    const noFactory = moduleFile('nofactory.mjs', 'export const x = 1;');
    expect((await errorOf({ adapter: noFactory, ttl: 60 })).message).toContain(
      'must export a default factory function',
    );
    const notAdapter = moduleFile('notadapter.mjs', 'export default () => ({ issue() {} });');
    expect((await errorOf({ adapter: notAdapter, ttl: 60 })).message).toContain(
      'must return { issue, inject, revoke? }',
    );
  });

  it('reports a plain error from the factory at the config path', async () => {
    const path = moduleFile('keyed.mjs', `export default () => { throw new TypeError('tenant: required'); };`);
    const error = await errorOf({ adapter: path, ttl: 60 });
    expect(error).toMatchObject({ code: 'config_invalid', message: 'targets[0].credential.tenant: required' });
  });

  it('cuts a secret the factory resolved out of its error, and drops a cause that carries it', async () => {
    const path = moduleFile(
      'leaky.mjs',
      `export default (o, ctx) => { const s = ctx.resolveSecret(o.key); throw new Error('bad key ' + s); };`,
    );
    const error = await errorOf({ adapter: path, ttl: 60, key: 'env:MODULE_SECRET' });
    expect(error.message).toBe('targets[0].credential: bad key <redacted>');
    expect(`${JSON.stringify(error)}${inspect(error, { depth: 10 })}${error.stack}`).not.toContain(secret);
  });
});
