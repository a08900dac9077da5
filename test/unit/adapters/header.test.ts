import { describe, expect, it } from 'vitest';
import { runAdapterContract } from '../../../adapters/contract.js';
import { createAdapter } from '../../../adapters/registry.js';
import { canary, testContext } from './context.js';

const secret = canary('header');
const context = testContext({ API_KEY: secret });
const options = { adapter: 'header', ttl: 300, header: 'X-Api-Key', value: 'env:API_KEY', template: 'Key {secret}' };

runAdapterContract('header', async () => ({ adapter: await createAdapter(options, context) }), {
  options,
  build: (o) => createAdapter(o as never, context),
  path: context.path,
  canary: secret,
});

describe('header adapter puts the templated key in the named header', () => {
  it('sets the lower-cased header to the template with the secret', async () => {
    const adapter = await createAdapter(options, context);
    const credential = await adapter.issue({ ...scope(), ttlSeconds: 60 });
    const request = { method: 'GET', path: '/', headers: { 'x-api-key': 'agent-value' } };
    adapter.inject(request, credential);
    expect(request.headers['x-api-key']).toBe(`Key ${secret}`);
    expect(credential.wireForms).toEqual([secret, `Key ${secret}`]);
  });
});

function scope() {
  return { leaseId: 'l', taskId: 't', target: 'echo', principalId: 'p', intent: 'i', ttlSeconds: 300 };
}
