import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import type { IdentityVerifier } from '../../../gateway/identity/types.js';
import { bearer, identityConfig, manualClock } from '../../identity/support.js';

const CLIENT = { id: 'billing-agent', secret: 'canary-client-secret-0b6c' };

async function privateJwk(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
}

/** A real OpenID provider that issues JWT access tokens (RFC 9068) for the resource `urn:escrow`. */
function provider(issuer: string, keys: JWK[]): Provider {
  return new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT.id,
        client_secret: CLIENT.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys },
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:escrow',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'proxy',
          audience: 'escrow',
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
}

describe('tokens from a real OpenID provider are accepted via discovery, across a key rotation', () => {
  let server: Server;
  let issuer: string;
  let current: Provider;
  let verifier: IdentityVerifier;
  const clock = manualClock();

  async function accessToken(): Promise<string> {
    const response = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'proxy', resource: 'urn:escrow' }),
    });
    const body = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
    if (!body.access_token)
      throw new Error(`token endpoint: ${response.status} ${body.error} ${body.error_description}`);
    return body.access_token;
  }

  beforeAll(async () => {
    server = createServer((req, res) => current.callback()(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    current = provider(issuer, [await privateJwk('old')]);
    const config = identityConfig([
      {
        name: 'oidc',
        principal: 'Agent',
        issuer,
        audience: 'escrow',
        jwks: 'discovery',
        typ: 'at+jwt',
        algorithms: ['ES256'],
        jwksCooldownSeconds: 1,
        claimTags: { client: 'client_id' },
      },
    ]);
    verifier = await createIdentityVerifier(config, { baseDir: '/', now: clock.now });
  });
  afterAll(async () => {
    verifier.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('accepts an access token minted for the client, via the discovered jwks_uri', async () => {
    const principal = await verifier.verify(bearer(await accessToken()));
    expect(principal).toMatchObject({ type: 'Agent', id: CLIENT.id, issuer: 'oidc', authMethod: 'jwt' });
    expect(principal.claims).toMatchObject({ iss: issuer, aud: 'escrow', client: CLIENT.id, scope: 'proxy' });
  });

  it('accepts tokens signed with a rotated-in key without a restart', async () => {
    const old = await privateJwk('old');
    current = provider(issuer, [await privateJwk('new'), old]);
    const token = await accessToken();
    expect(JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString())).toMatchObject({
      kid: 'new',
    });
    clock.advance(2); // past the cooldown since the warm-up read
    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ id: CLIENT.id });
  });

  it('refuses a token for another resource (audience)', async () => {
    const token = await accessToken();
    const strict = await createIdentityVerifier(
      identityConfig([
        { name: 'oidc', principal: 'Agent', issuer, audience: 'not-escrow', jwks: 'discovery', typ: 'at+jwt' },
      ]),
      { baseDir: '/' },
    );
    await expect(strict.verify(bearer(token))).rejects.toMatchObject({ reason: 'audience_mismatch' });
  });
});
