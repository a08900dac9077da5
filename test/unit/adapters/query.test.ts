import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { contractScope, runAdapterContract } from '../../../adapters/contract.js';
import { createAdapter } from '../../../adapters/registry.js';
import type { Adapter, Credential } from '../../../adapters/types.js';
import { canary, testContext } from './context.js';
import { listen } from './servers.js';

const secret = `${canary('query')} &=+/?#%é`;
const encoded = encodeURIComponent(secret);
const context = testContext({ QUERY_KEY: secret });
const options = { adapter: 'query', ttl: 300, param: 'api_key', value: 'env:QUERY_KEY' };

runAdapterContract('query', async () => ({ adapter: await createAdapter(options, context) }), {
  options,
  build: (o) => createAdapter(o as never, context),
  path: context.path,
  canary: secret,
});

async function injectInto(path: string): Promise<string> {
  const adapter: Adapter = await createAdapter(options, context);
  const credential: Credential = await adapter.issue(contractScope());
  const request = { method: 'GET', path, headers: {} };
  adapter.inject(request, credential);
  return request.path;
}

describe('query adapter puts the URL-encoded key in its parameter, replacing the agent’s', () => {
  it('adds the parameter to a path without a query', async () => {
    expect(await injectInto('/v1/items')).toBe(`/v1/items?api_key=${encoded}`);
  });

  it('keeps the other parameters byte for byte and appends the key', async () => {
    expect(await injectInto('/v1/items?q=a%20b&page=2')).toBe(`/v1/items?q=a%20b&page=2&api_key=${encoded}`);
  });

  it.each([
    ['plain', '/s?api_key=agents&x=1'],
    ['without a value', '/s?api_key&x=1'],
    ['percent-encoded name', '/s?api%5Fkey=agents&x=1'],
    ['repeated', '/s?api_key=a&x=1&api_key=b'],
  ])('removes an agent-supplied parameter of the same name (%s)', async (_label, path) => {
    expect(await injectInto(path)).toBe(`/s?x=1&api_key=${encoded}`);
  });

  it('keeps parameters whose name only looks alike', async () => {
    expect(await injectInto('/s?api_keys=1&xapi_key=2')).toBe(`/s?api_keys=1&xapi_key=2&api_key=${encoded}`);
  });

  it('survives malformed escapes in other parameter names', async () => {
    expect(await injectInto('/s?%zz=1')).toBe(`/s?%zz=1&api_key=${encoded}`);
  });

  it('lists the raw, percent-encoded and form-encoded forms of the key', async () => {
    const credential = await (await createAdapter(options, context)).issue(contractScope());
    expect(credential.wireForms).toEqual([secret, encoded, new URLSearchParams({ k: secret }).toString().slice(2)]);
  });

  it('encodes a parameter name that needs it', async () => {
    const adapter = await createAdapter({ ...options, param: 'key[0]' }, context);
    const request = { method: 'GET', path: '/s?key%5B0%5D=agents', headers: {} };
    adapter.inject(request, await adapter.issue(contractScope()));
    expect(request.path).toBe(`/s?key%5B0%5D=${encoded}`);
  });
});

describe('query adapter’s key reaches a real upstream exactly as configured', () => {
  it('decodes to the raw secret at the upstream', async () => {
    let seen: string | null = null;
    const upstream = await listen((req, res) => {
      seen = new URL(req.url ?? '/', 'http://upstream').searchParams.get('api_key');
      res.end('ok');
    });
    try {
      const path = await injectInto('/v1/items?api_key=agents');
      const { statusCode, body } = await request(`${upstream.url}${path}`);
      await body.text();
      expect(statusCode).toBe(200);
      expect(seen).toBe(secret);
    } finally {
      await upstream.close();
    }
  });
});
