import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import {
  bearer,
  identityConfig,
  type JwksServer,
  makeKey,
  sign,
  startJwksServer,
  type TestKey,
} from '../../identity/support.js';

describe('key documents are fetched only from where the issuer config points', () => {
  let key: TestKey;
  let home: JwksServer;
  let elsewhere: JwksServer;

  beforeAll(async () => {
    key = await makeKey('d1');
    home = await startJwksServer([key.jwk]);
    elsewhere = await startJwksServer([key.jwk]);
  });
  afterAll(async () => {
    await home.close();
    await elsewhere.close();
  });

  async function verifyWith(issuer: Record<string, unknown>, iss: string) {
    const verifier = await createIdentityVerifier(
      identityConfig([{ name: 'x', principal: 'Agent', audience: 'escrow', issuer: iss, ...issuer }]),
      { baseDir: '/' },
    );
    return verifier.verify(bearer(await sign(key, { iss, aud: 'escrow', sub: 'w' })));
  }

  it('uses the jwks_uri of a discovery document that names the configured issuer', async () => {
    home.discovery = { issuer: home.origin, jwks_uri: home.url };
    await expect(verifyWith({ jwks: 'discovery' }, home.origin)).resolves.toMatchObject({ id: 'w' });
  });

  it('refuses a discovery document that names another issuer', async () => {
    home.discovery = { issuer: 'https://evil.example', jwks_uri: home.url };
    await expect(verifyWith({ jwks: 'discovery' }, home.origin)).rejects.toMatchObject({ reason: 'jwks_unavailable' });
  });

  it('follows a same-origin redirect', async () => {
    home.redirect = '/jwks?moved=1';
    await expect(verifyWith({ jwks: home.url }, 'https://a.example')).resolves.toMatchObject({ id: 'w' });
    home.redirect = undefined;
  });

  it('never follows a redirect to another origin', async () => {
    home.redirect = elsewhere.url;
    const before = elsewhere.requests;
    await expect(verifyWith({ jwks: home.url }, 'https://a.example')).rejects.toMatchObject({
      reason: 'jwks_unavailable',
    });
    expect(elsewhere.requests).toBe(before);
    home.redirect = undefined;
  });

  it('refuses to start when a file: key set cannot be read', async () => {
    const config = identityConfig([
      { name: 'f', principal: 'Agent', audience: 'a', issuer: 'i', jwks: 'file:missing.json' },
    ]);
    await expect(createIdentityVerifier(config, { baseDir: '/nonexistent' })).rejects.toMatchObject({
      code: 'config_invalid',
    });
  });

  it('rejects discovery without an issuer at config time', () => {
    expect(() => identityConfig([{ name: 'f', principal: 'Agent', audience: 'a', jwks: 'discovery' }])).toThrow(
      /issuer/,
    );
  });
});
