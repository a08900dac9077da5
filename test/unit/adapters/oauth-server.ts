/** A real OAuth 2 authorization server (oidc-provider) on port 0, issuing JWT access tokens. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, exportJWK, generateKeyPair, type JWTPayload, jwtVerify } from 'jose';
import Provider from 'oidc-provider';

export interface OAuthServer {
  readonly issuer: string;
  readonly tokenUrl: string;
  readonly resource: string;
  /** Verifies an access token as a resource server would (signature via JWKS, issuer, audience). */
  verify(token: string): Promise<JWTPayload>;
  close(): Promise<void>;
}

export interface OAuthServerOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly accessTokenTtl: number;
}

export async function startOAuthServer(options: OAuthServerOptions): Promise<OAuthServer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resource = 'https://reports.example/';
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'reports:read reports:write',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-key' }] },
    scopes: ['reports:read', 'reports:write'],
    ttl: { ClientCredentials: options.accessTokenTtl },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        getResourceServerInfo: () => ({
          scope: 'reports:read reports:write',
          audience: resource,
          accessTokenTTL: options.accessTokenTtl,
          accessTokenFormat: 'jwt',
        }),
      },
    },
  });
  server.on('request', provider.callback());
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    resource,
    verify: async (token) => (await jwtVerify(token, jwks, { issuer, audience: resource })).payload,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
