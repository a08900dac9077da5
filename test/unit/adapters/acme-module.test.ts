import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractScope, runAdapterContract } from '../../../adapters/contract.js';
import { createAdapter } from '../../../adapters/registry.js';
import type { UpstreamRequest } from '../../../adapters/types.js';
import type { CredentialConfig } from '../../../gateway/config/schema.js';
import { canary, testContext } from './context.js';
import { listen, readBody, sendJson, type TestServer } from './servers.js';

// The config lives in examples/, so `./adapters/acme.js` resolves against that directory.
const examplesDir = fileURLToPath(new URL('../../../examples/', import.meta.url));
const rootKey = canary('acme-root');
const context = testContext({ ACME_ROOT_KEY: rootKey }, { baseDir: examplesDir });

/** A real Acme API: session keys minted with the root key, checked on /v1/whoami, revocable. */
const live = new Map<string, string>(); // id → key
let acme: TestServer;
beforeAll(async () => {
  acme = await listen(async (req, res) => {
    const auth = req.headers.authorization ?? '';
    const body = (await readBody(req)).toString();
    if (req.method === 'POST' && req.url === '/v1/session-keys') {
      if (auth !== `Acme-Root ${rootKey}`) return sendJson(res, 401, { error: 'bad root key' });
      const { tenant, ttlSeconds } = JSON.parse(body) as { tenant: string; ttlSeconds: number };
      const id = `sk_${randomBytes(6).toString('hex')}`;
      const key = `acme_${tenant}_${randomBytes(16).toString('hex')}`;
      live.set(id, key);
      return sendJson(res, 201, { id, key, expiresIn: Math.min(ttlSeconds, 900) });
    }
    const revoke = /^\/v1\/session-keys\/(.+)$/.exec(req.url ?? '');
    if (req.method === 'DELETE' && revoke?.[1]) {
      if (auth !== `Acme-Root ${rootKey}`) return sendJson(res, 401, { error: 'bad root key' });
      return res.writeHead(live.delete(revoke[1]) ? 204 : 404).end();
    }
    const ok = [...live.values()].some((key) => auth === `Acme-Key ${key}`);
    return sendJson(res, ok ? 200 : 401, { tenant: req.headers['x-acme-tenant'] });
  });
});
afterAll(async () => {
  await acme?.close();
});

function optionsFor(apiUrl: string): CredentialConfig {
  return { adapter: './adapters/acme.js', ttl: 600, apiUrl, tenant: 'reports', rootKey: 'env:ACME_ROOT_KEY' };
}

runAdapterContract(
  'acme (a user module)',
  async () => ({ adapter: await createAdapter(optionsFor(acme.url), context) }),
  {
    options: optionsFor('http://127.0.0.1:1'),
    build: (o) => createAdapter(o as CredentialConfig, context),
    path: context.path,
    canary: rootKey,
  },
);

describe('a user adapter module loaded by path works end to end against its API', () => {
  it('mints a session key per lease, which the API accepts until it is revoked', async () => {
    const adapter = await createAdapter(optionsFor(acme.url), context);
    expect(adapter.kind).toBe('acme');
    const credential = await adapter.issue(contractScope(300));
    expect(credential.ttlSeconds).toBe(300);
    const request: UpstreamRequest = { method: 'GET', path: '/v1/whoami', headers: {} };
    adapter.inject(request, credential);
    const before = await fetch(`${acme.url}${request.path}`, { headers: request.headers as Record<string, string> });
    expect(before.status).toBe(200);
    expect(await before.json()).toEqual({ tenant: 'reports' });

    await adapter.revoke?.(credential);
    const after = await fetch(`${acme.url}${request.path}`, { headers: request.headers as Record<string, string> });
    expect(after.status).toBe(401);
  });

  it('reports its own option errors at the config path', async () => {
    const error = await createAdapter({ ...optionsFor(acme.url), tenant: 'Not A Slug' }, context).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: 'config_invalid',
      message: 'targets[0].credential.tenant: must be a tenant slug',
    });
  });
});

describe('docs/adapters.md shows the example module exactly as it is', () => {
  it('embeds examples/adapters/acme.js verbatim', () => {
    const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
    expect(read('../../../docs/adapters.md')).toContain(read('../../../examples/adapters/acme.js'));
  });
});
