import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import type { IdentityVerifier } from '../../../gateway/identity/types.js';
import {
  bearer,
  identityConfig,
  input,
  type JwksServer,
  makeKey,
  sign,
  startJwksServer,
  type TestKey,
  writeJwks,
} from '../../identity/support.js';

describe('a token from a configured issuer becomes a principal of that issuer type', () => {
  let key: TestKey;
  let server: JwksServer;
  let verifier: IdentityVerifier;

  beforeAll(async () => {
    key = await makeKey('k1');
    server = await startJwksServer([key.jwk]);
    const { dir, file } = await writeJwks({ keys: [key.jwk] });
    verifier = await createIdentityVerifier(
      identityConfig([
        {
          name: 'ci',
          principal: 'Agent',
          issuer: 'https://ci.example',
          audience: 'escrow',
          jwks: server.url,
          claimTags: { repo: 'repository', ns: 'kubernetes.io.namespace' },
        },
        {
          name: 'people',
          principal: 'Human',
          issuer: 'https://sso.example',
          audience: 'escrow',
          jwks: `file:${file}`,
          header: 'x-api-key',
        },
      ]),
      { baseDir: dir },
    );
  });
  afterAll(async () => {
    verifier.close();
    await server.close();
  });

  it('verifies a bearer token against a JWKS URL and maps claims to tags', async () => {
    const token = await sign(key, {
      iss: 'https://ci.example',
      aud: 'escrow',
      sub: 'repo:acme/app',
      repository: 'acme/app',
      'kubernetes.io': { namespace: 'payments' },
      email: 'not-copied@example.org',
    });
    const principal = await verifier.verify(bearer(token));
    expect(principal).toMatchObject({ type: 'Agent', id: 'repo:acme/app', issuer: 'ci', authMethod: 'jwt' });
    expect(principal.claims).toEqual({ iss: 'https://ci.example', aud: 'escrow', repo: 'acme/app', ns: 'payments' });
    expect(typeof principal.expiresAt).toBe('number');
  });

  it('reads the issuer header (x-api-key), with or without a Bearer prefix, and maps to Human', async () => {
    const token = await sign(key, { iss: 'https://sso.example', aud: 'escrow', sub: 'alice' });
    expect((await verifier.verify(input({ 'x-api-key': token }))).type).toBe('Human');
    expect((await verifier.verify(input({ 'x-api-key': `Bearer ${token}` }))).id).toBe('alice');
  });

  it('honours a per-target header override', async () => {
    const token = await sign(key, { iss: 'https://ci.example', aud: 'escrow', sub: 'bot' });
    const principal = await verifier.verify(input({ 'x-escrow-token': token }, { tokenHeader: 'x-escrow-token' }));
    expect(principal.issuer).toBe('ci');
  });

  it('lists every token header so the pipeline can strip them', () => {
    expect([...verifier.tokenHeaders].sort()).toEqual(['authorization', 'x-api-key']);
  });
});
