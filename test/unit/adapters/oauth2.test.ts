import { inspect } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractScope, runAdapterContract } from '../../../adapters/contract.js';
import { createAdapter } from '../../../adapters/registry.js';
import type { Adapter } from '../../../adapters/types.js';
import type { CredentialConfig } from '../../../gateway/config/schema.js';
import { canary, testContext } from './context.js';
import { type OAuthServer, startOAuthServer } from './oauth-server.js';
import { listen, readBody, sendJson, type TestServer } from './servers.js';

// Characters that client_secret_basic must form-encode (RFC 6749 §2.3.1).
const clientSecret = `${canary('oauth2')}:+ %/`;
const context = testContext({ CLIENT_SECRET: clientSecret });

function optionsFor(tokenUrl: string): CredentialConfig {
  return {
    adapter: 'oauth2-client-credentials',
    ttl: 300,
    tokenUrl,
    clientId: 'escrow-reports',
    clientSecret: 'env:CLIENT_SECRET',
    scope: 'reports:read',
  };
}

async function expectUnavailable(adapter: Adapter, reason: string, text: string): Promise<void> {
  const error = await adapter.issue(contractScope()).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ code: 'credential_unavailable', reason });
  expect((error as Error).message).toContain(text);
  expect(`${JSON.stringify(error)}${inspect(error, { depth: 10 })}`).not.toContain(clientSecret.slice(0, 20));
}

let oauth: OAuthServer;
beforeAll(async () => {
  oauth = await startOAuthServer({ clientId: 'escrow-reports', clientSecret, accessTokenTtl: 120 });
});
afterAll(async () => {
  await oauth?.close();
});

runAdapterContract(
  'oauth2-client-credentials',
  async () => ({ adapter: await createAdapter(optionsFor(oauth.tokenUrl), context) }),
  {
    options: optionsFor('http://127.0.0.1:1/token'),
    build: (o) => createAdapter(o as CredentialConfig, context),
    path: context.path,
    canary: clientSecret,
  },
);

describe('oauth2-client-credentials mints a token a real resource server accepts', () => {
  let upstream: TestServer;
  beforeAll(async () => {
    upstream = await listen((req, res) => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      oauth.verify(token).then(
        (claims) => sendJson(res, 200, { clientId: claims.client_id, scope: claims.scope }),
        () => sendJson(res, 401, { error: 'invalid_token' }),
      );
    });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('injects Authorization: Bearer <JWT> that verifies against the server’s JWKS', async () => {
    const adapter = await createAdapter(optionsFor(oauth.tokenUrl), context);
    const credential = await adapter.issue(contractScope());
    const req = { method: 'GET', path: '/reports', headers: {} as Record<string, string> };
    adapter.inject(req, credential);
    const answer = await request(`${upstream.url}${req.path}`, { headers: req.headers });
    expect(answer.statusCode).toBe(200);
    expect(await answer.body.json()).toEqual({ clientId: 'escrow-reports', scope: 'reports:read' });
    expect(credential.wireForms).toEqual([credential.fields.token, `Bearer ${credential.fields.token}`]);
  });

  it('lives a margin less than expires_in, and never beyond the scope', async () => {
    const adapter = await createAdapter(optionsFor(oauth.tokenUrl), context);
    expect((await adapter.issue(contractScope(300))).ttlSeconds).toBe(108); // 120 − 10%
    expect((await adapter.issue(contractScope(60))).ttlSeconds).toBe(60);
  });

  it('puts the token in another header through a template', async () => {
    const options = { ...optionsFor(oauth.tokenUrl), header: 'X-Access-Token', template: 'tok={token}' };
    const adapter = await createAdapter(options, context);
    const credential = await adapter.issue(contractScope());
    const req = { method: 'GET', path: '/', headers: {} as Record<string, string> };
    adapter.inject(req, credential);
    expect(req.headers['x-access-token']).toBe(`tok=${credential.fields.token}`);
  });

  it('fails as credential_unavailable, naming the OAuth error, when the client secret is wrong', async () => {
    const wrong = testContext({ CLIENT_SECRET: `${clientSecret}-wrong` });
    const adapter = await createAdapter(optionsFor(oauth.tokenUrl), wrong);
    await expectUnavailable(adapter, 'credential_endpoint_refused', 'status 401 (invalid_client)');
  });
});

describe('oauth2-client-credentials sends a standard client credentials request', () => {
  it('uses client_secret_basic with form-encoded id and secret, and the configured parameters', async () => {
    let seen: { authorization?: string; body?: string } = {};
    const endpoint = await listen(async (req, res) => {
      seen = { authorization: req.headers.authorization, body: (await readBody(req)).toString() };
      sendJson(res, 200, { access_token: 'opaque-token', token_type: 'Bearer', expires_in: '3600' });
    });
    try {
      const options = {
        ...optionsFor(`${endpoint.url}/token`),
        audience: 'https://api.example',
        resource: 'https://r.example/',
      };
      const credential = await (await createAdapter(options, context)).issue(contractScope(600));
      const pair = `escrow-reports:${new URLSearchParams({ s: clientSecret }).toString().slice(2)}`;
      expect(seen.authorization).toBe(`Basic ${Buffer.from(pair).toString('base64')}`);
      expect(Object.fromEntries(new URLSearchParams(seen.body))).toEqual({
        grant_type: 'client_credentials',
        scope: 'reports:read',
        audience: 'https://api.example',
        resource: 'https://r.example/',
      });
      expect(credential.ttlSeconds).toBe(300); // expires_in as a numeric string; capped by the config ttl
    } finally {
      await endpoint.close();
    }
  });
});

describe('oauth2-client-credentials refuses a token endpoint that misbehaves', () => {
  let hitsElsewhere = 0;
  let elsewhere: TestServer;
  let endpoint: TestServer;
  beforeAll(async () => {
    elsewhere = await listen((_req, res) => {
      hitsElsewhere += 1;
      sendJson(res, 200, { access_token: 'stolen', expires_in: 60 });
    });
    endpoint = await listen((req, res) => {
      if (req.url === '/redirect') res.writeHead(307, { location: `${elsewhere.url}/token` }).end();
      else if (req.url === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
      else if (req.url === '/no-token') sendJson(res, 200, { token_type: 'Bearer' });
      else if (req.url === '/huge') sendJson(res, 200, { access_token: 'x'.repeat(300 * 1024) });
      // '/hang': never answers
    });
  });
  afterAll(async () => {
    await endpoint?.close();
    await elsewhere?.close();
  });

  it('does not follow a redirect, so the client secret never reaches another origin', async () => {
    const adapter = await createAdapter(optionsFor(`${endpoint.url}/redirect`), context);
    await expectUnavailable(adapter, 'credential_endpoint_refused', 'status 307 (redirects are not followed)');
    expect(hitsElsewhere).toBe(0);
  });

  it.each([
    ['/html', 'something other than a JSON object'],
    ['/no-token', 'without a usable "access_token"'],
    ['/huge', 'answered more than'],
  ])('rejects an unusable answer (%s)', async (path, text) => {
    const adapter = await createAdapter(optionsFor(`${endpoint.url}${path}`), context);
    await expectUnavailable(adapter, 'credential_response_invalid', text);
  });

  it('times out', async () => {
    const adapter = await createAdapter({ ...optionsFor(`${endpoint.url}/hang`), timeoutMs: 200 }, context);
    await expectUnavailable(adapter, 'credential_endpoint_timeout', 'timed out after 200 ms');
  });

  it('reports an unreachable endpoint', async () => {
    const adapter = await createAdapter(optionsFor('http://127.0.0.1:1/token?secret=in-query'), context);
    await expectUnavailable(adapter, 'credential_endpoint_unreachable', 'http://127.0.0.1:1/token is unreachable');
  });
});
