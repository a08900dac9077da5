import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { type JWTPayload, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractScope, runAdapterContract } from '../../../adapters/contract.js';
import { createAdapter } from '../../../adapters/registry.js';
import type { CredentialConfig } from '../../../gateway/config/schema.js';
import { testContext } from './context.js';
import { listen, readBody, sendJson, type TestServer } from './servers.js';

function keyPair(type: 'ec' | 'rsa' | 'ed25519', curve?: string): { pem: string; publicKey: KeyObject } {
  const options = type === 'ec' ? { namedCurve: curve ?? 'prime256v1' } : type === 'rsa' ? { modulusLength: 2048 } : {};
  const { privateKey, publicKey } = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

const keys = {
  ES256: keyPair('ec'),
  RS256: keyPair('rsa'),
  EdDSA: keyPair('ed25519'),
  ES384: keyPair('ec', 'secp384r1'),
};
const context = testContext({
  ES256_KEY: keys.ES256.pem,
  RS256_KEY: keys.RS256.pem,
  EdDSA_KEY: keys.EdDSA.pem,
  ES384_KEY: keys.ES384.pem,
  JUNK_KEY: 'canary-not-a-pem-4242',
});

/** What the token endpoint saw: verified assertion claims, or the GitHub app JWT's, and the JSON body. */
const seen: { claims?: JWTPayload; form?: Record<string, string>; body?: unknown; jtis: Set<string> } = {
  jtis: new Set(),
};
let endpoint: TestServer;

async function verifyAny(jwt: string, audience?: string): Promise<JWTPayload> {
  for (const [alg, { publicKey }] of Object.entries(keys)) {
    try {
      return (await jwtVerify(jwt, publicKey, { algorithms: [alg], audience, issuer: 'escrow-client' })).payload;
    } catch {
      // try the next key
    }
  }
  throw new Error('no key verifies the assertion');
}

beforeAll(async () => {
  endpoint = await listen(async (req, res) => {
    const raw = (await readBody(req)).toString();
    try {
      if (req.url === '/oauth/token') {
        const form = Object.fromEntries(new URLSearchParams(raw));
        seen.form = form;
        if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
          return sendJson(res, 400, { error: 'unsupported_grant_type' });
        seen.claims = await verifyAny(form.assertion ?? '', `${endpoint.url}/oauth/token`);
        if (seen.jtis.has(String(seen.claims.jti))) return sendJson(res, 400, { error: 'invalid_grant' });
        seen.jtis.add(String(seen.claims.jti));
        return sendJson(res, 200, { access_token: `at-${seen.claims.jti}`, token_type: 'Bearer', expires_in: 3600 });
      }
      const jwt = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      seen.claims = await verifyAny(jwt);
      seen.body = raw === '' ? undefined : JSON.parse(raw);
      const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
      return sendJson(res, 201, { token: 'ghs_installationtoken', expires_at: expiresAt });
    } catch {
      return sendJson(res, 401, { error: 'invalid_client', error_description: raw });
    }
  });
});
afterAll(async () => {
  await endpoint?.close();
});

function rfc7523(tokenUrl: string, algorithm = 'ES256'): CredentialConfig {
  return {
    adapter: 'jwt-bearer',
    ttl: 900,
    tokenUrl,
    issuer: 'escrow-client',
    privateKey: `env:${algorithm}_KEY`,
    algorithm,
    scope: 'reports',
  };
}

runAdapterContract(
  'jwt-bearer',
  async () => ({ adapter: await createAdapter(rfc7523(`${endpoint.url}/oauth/token`), context) }),
  {
    options: rfc7523('http://127.0.0.1:1/oauth/token'),
    build: (o) => createAdapter(o as CredentialConfig, context),
    path: context.path,
    canary: keys.ES256.pem,
  },
);

describe('jwt-bearer exchanges a signed RFC 7523 assertion that the token endpoint verifies', () => {
  it.each(['ES256', 'RS256', 'EdDSA', 'ES384'])('signs with %s and gets the access token', async (alg) => {
    const adapter = await createAdapter(
      { ...rfc7523(`${endpoint.url}/oauth/token`, alg), claims: { tenant: 'acme' } },
      context,
    );
    const credential = await adapter.issue(contractScope(600));
    expect(credential.fields.token).toBe(`at-${seen.claims?.jti}`);
    expect(credential.ttlSeconds).toBe(600);
    expect(seen.form?.scope).toBe('reports');
    const { iat = 0, exp = 0 } = seen.claims ?? {};
    expect(seen.claims).toMatchObject({ iss: 'escrow-client', sub: 'escrow-client', tenant: 'acme' });
    expect(exp - iat).toBe(60);
  });

  it('injects the token as Authorization: Bearer', async () => {
    const adapter = await createAdapter(rfc7523(`${endpoint.url}/oauth/token`), context);
    const credential = await adapter.issue(contractScope());
    const request = { method: 'GET', path: '/', headers: {} as Record<string, string> };
    adapter.inject(request, credential);
    expect(request.headers.authorization).toBe(`Bearer ${credential.fields.token}`);
  });

  it('fails as credential_unavailable when the endpoint rejects the assertion, without echoing it', async () => {
    const adapter = await createAdapter({ ...rfc7523(`${endpoint.url}/oauth/token`), issuer: 'someone-else' }, context);
    const error = await adapter.issue(contractScope()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'credential_unavailable', reason: 'credential_endpoint_refused' });
    expect((error as Error).message).toContain('status 401 (invalid_client)');
    expect(inspect(error)).not.toContain('assertion=');
  });
});

describe('jwt-bearer in github-app mode sends the app JWT as a bearer token', () => {
  it('gets an installation token, with the ttl from expires_at and the narrowing request body', async () => {
    const options = {
      ...rfc7523(`${endpoint.url}/app/installations/42/access_tokens`, 'RS256'),
      issuer: 'escrow-client',
      mode: 'github-app',
      tokenRequest: { repositories: ['reports'], permissions: { contents: 'read' } },
    };
    const credential = await (await createAdapter(options, context)).issue(contractScope(3600));
    expect(credential.fields.token).toBe('ghs_installationtoken');
    expect(credential.ttlSeconds).toBe(900); // config ttl caps the hour GitHub grants
    expect(seen.body).toEqual({ repositories: ['reports'], permissions: { contents: 'read' } });
    const { iat = 0, exp = 0 } = seen.claims ?? {};
    expect(exp - iat).toBe(600);
    expect(iat).toBeLessThan(Date.now() / 1000 - 50);
  });
});

describe('jwt-bearer refuses a key that cannot sign at start', () => {
  it('names privateKey when the secret is not a PEM, and never shows it', async () => {
    const error = await createAdapter({ ...rfc7523(endpoint.url), privateKey: 'env:JUNK_KEY' }, context).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: 'config_invalid',
      message: 'targets[0].credential.privateKey: not a PEM private key',
    });
    expect(inspect(error, { depth: 10 })).not.toContain('canary-not-a-pem-4242');
  });

  it.each([
    ['ES256', 'RS256_KEY'],
    ['RS256', 'ES256_KEY'],
    ['ES256', 'ES384_KEY'],
  ])('refuses algorithm %s with the key in %s', async (algorithm, env) => {
    const options = { ...rfc7523(endpoint.url), algorithm, privateKey: `env:${env}` };
    await expect(createAdapter(options, context)).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringContaining('cannot sign'),
    });
  });
});
