import { describe, expect, it } from 'vitest';
import { contractScope, runAdapterContract } from '../../../adapters/contract.js';
import { createAdapter } from '../../../adapters/registry.js';
import { canary, testContext } from './context.js';

const password = canary('basic');
const context = testContext({ BASIC_PASSWORD: password });
const options = { adapter: 'basic', ttl: 120, username: 'svc-report', password: 'env:BASIC_PASSWORD' };

runAdapterContract('basic', async () => ({ adapter: await createAdapter(options, context) }), {
  options,
  build: (o) => createAdapter(o as never, context),
  path: context.path,
  canary: password,
});

describe('basic adapter sends Authorization: Basic base64(username:password)', () => {
  it('injects the header and lists the raw and encoded forms', async () => {
    const adapter = await createAdapter(options, context);
    const credential = await adapter.issue(contractScope());
    const request = { method: 'GET', path: '/', headers: {} as Record<string, string> };
    adapter.inject(request, credential);
    const encoded = Buffer.from(`svc-report:${password}`).toString('base64');
    expect(request.headers.authorization).toBe(`Basic ${encoded}`);
    expect(credential.wireForms).toEqual([password, encoded, `svc-report:${password}`]);
    expect(credential.ttlSeconds).toBe(120);
  });

  it('refuses a username with a colon', async () => {
    await expect(createAdapter({ ...options, username: 'a:b' }, context)).rejects.toMatchObject({
      code: 'config_invalid',
      message: 'targets[0].credential.username: must not contain ":" (RFC 7617)',
    });
  });
});
