import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractScope, runAdapterContract } from '../../adapters/contract.js';
import { listEscrowUsers, sweepExpiredUsers } from '../../adapters/rabbitmq.js';
import { createAdapter } from '../../adapters/registry.js';
import type { UpstreamRequest } from '../../adapters/types.js';
import type { CredentialConfig } from '../../gateway/config/schema.js';
import { canary, testContext } from '../unit/adapters/context.js';
import { asGuest, findBroker, MANAGEMENT_URL, status } from './rabbitmq-env.js';

const broker = await findBroker();
const installed = broker.up;
const skipped = (name: string) => (broker.up ? name : `${name} — skipped: ${broker.reason}`);
if (!broker.up && !process.env.CI) console.warn(`RabbitMQ adapter tests skipped: ${broker.reason}`);

// In CI (.ci/run starts RabbitMQ with its management API) a missing broker is a broken setup, never a silent skip.
it.runIf(!broker.up && Boolean(process.env.CI))('has a RabbitMQ broker in CI (.ci/run starts one)', () => {
  expect.fail(`${broker.up ? '' : broker.reason}: the RabbitMQ adapter tests cannot run`);
});
const run = randomBytes(4).toString('hex');
const prefix = `escrowtest-${run}-`;
// A dedicated admin with a canary password, so tests can prove the admin password never leaks.
const admin = { username: `escrowtest-admin-${run}`, password: canary('rabbitmq-admin') };
const context = testContext({ RABBIT_ADMIN_PASSWORD: admin.password });
const options: CredentialConfig = {
  adapter: 'rabbitmq',
  ttl: 300,
  managementUrl: MANAGEMENT_URL,
  adminUsername: admin.username,
  adminPassword: 'env:RABBIT_ADMIN_PASSWORD',
  vhost: '/',
  permissions: { configure: `^${prefix}.*`, write: `^${prefix}.*`, read: '.*' },
  usernamePrefix: prefix,
};

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

beforeAll(async () => {
  if (!installed) return;
  expect(
    await asGuest('PUT', `/api/users/${admin.username}`, { password: admin.password, tags: 'administrator' }),
  ).toBe(201);
}, 90_000);

afterAll(async () => {
  if (!installed) return;
  for (const user of await listEscrowUsers(options, context)) await asGuest('DELETE', `/api/users/${user.username}`);
  await asGuest('DELETE', `/api/users/${admin.username}`);
});

if (installed) {
  runAdapterContract('rabbitmq', async () => ({ adapter: await createAdapter(options, context) }), {
    options,
    build: (o) => createAdapter(o as CredentialConfig, context),
    path: context.path,
    canary: admin.password,
  });
}

describe.skipIf(!installed)(skipped('rabbitmq creates a real user per lease and deletes it on revoke'), () => {
  it('the user exists with its permissions while the lease lives, and authenticates with the injected header', async () => {
    const adapter = await createAdapter(options, context);
    const credential = await adapter.issue(contractScope(120));
    const { username = '', password = '' } = credential.fields;
    expect(username).toMatch(new RegExp(`^${prefix}\\d+-[0-9a-f]{16}$`));
    expect(credential.revocationHandle).toBe(username);
    expect(credential.wireForms).toEqual([
      password,
      Buffer.from(`${username}:${password}`).toString('base64'),
      `${username}:${password}`,
    ]);
    expect(await asGuest('GET', `/api/users/${username}`)).toBe(200);
    expect(await asGuest('GET', `/api/permissions/%2F/${username}`)).toBe(200);

    const request: UpstreamRequest = { method: 'GET', path: '/api/whoami', headers: {} };
    adapter.inject(request, credential);
    expect(await status('GET', request.path, String(request.headers.authorization))).toBe(200);

    await adapter.revoke?.(credential);
    expect(await asGuest('GET', `/api/users/${username}`)).toBe(404);
    expect(await status('GET', '/api/whoami', basic(username, password))).toBe(401);
  });

  it('gives each lease its own user and password', async () => {
    const adapter = await createAdapter(options, context);
    const [a, b] = await Promise.all([adapter.issue(contractScope()), adapter.issue(contractScope())]);
    expect(a?.fields.username).not.toBe(b?.fields.username);
    expect(a?.fields.password).not.toBe(b?.fields.password);
    await Promise.all([adapter.revoke?.(a!), adapter.revoke?.(b!)]);
  });

  it('fails as credential_unavailable when the admin password is wrong, without showing any password', async () => {
    const wrong = testContext({ RABBIT_ADMIN_PASSWORD: `${admin.password}-wrong` });
    const error = await (await createAdapter(options, wrong)).issue(contractScope()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'credential_unavailable', reason: 'credential_endpoint_refused' });
    expect((error as Error).message).toContain('status 401');
    expect(`${JSON.stringify(error)}${inspect(error, { depth: 10 })}`).not.toContain(admin.password);
  });

  it('removes the half-made user when granting permissions fails', async () => {
    const adapter = await createAdapter({ ...options, vhost: `no-such-vhost-${run}` }, context);
    await expect(adapter.issue(contractScope())).rejects.toMatchObject({ code: 'credential_unavailable' });
    expect(await listEscrowUsers(options, context)).toEqual([]);
  });
});

describe.skipIf(!installed)(skipped('rabbitmq sweeper deletes users whose lease ended but were never revoked'), () => {
  it('lists users by prefix with their expiry, and sweeps only the expired ones', async () => {
    const hourAgo = testContext({ RABBIT_ADMIN_PASSWORD: admin.password }, { now: () => Date.now() - 3_600_000 });
    const stale = await (await createAdapter(options, hourAgo)).issue(contractScope(60));
    const live = await (await createAdapter(options, context)).issue(contractScope(60));

    const listed = await listEscrowUsers(options, context);
    expect(listed.map((u) => u.username).sort()).toEqual([stale.fields.username, live.fields.username].sort());
    const staleEntry = listed.find((u) => u.username === stale.fields.username);
    expect(staleEntry?.expiresAt).toBeLessThan(Date.now() - 3_000_000);

    expect(await sweepExpiredUsers(options, context)).toEqual([stale.fields.username]);
    expect(await asGuest('GET', `/api/users/${stale.fields.username}`)).toBe(404);
    expect(await asGuest('GET', `/api/users/${live.fields.username}`)).toBe(200);
    await asGuest('DELETE', `/api/users/${live.fields.username}`);
  });
});
