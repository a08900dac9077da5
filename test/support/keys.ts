import { randomBytes } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

export interface IssuerKeys {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwks: { keys: JWK[] };
}

/** A real ES256 key pair and its JWK Set, as a workload identity issuer would publish it. */
export async function createIssuerKeys(): Promise<IssuerKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${randomBytes(4).toString('hex')}`;
  return { kid, privateKey, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] } };
}

export interface TokenOptions {
  readonly sub?: string;
  readonly iss?: string;
  readonly aud?: string;
  readonly expiresIn?: number;
  readonly claims?: Record<string, unknown>;
}

export const TEST_ISSUER = 'https://issuer.test';
export const TEST_AUDIENCE = 'escrow';
export const TEST_TRUST_DOMAIN = 'test.example';

/** A signed JWT-SVID for `sub` (default `spiffe://test.example/agent/a`). */
export async function signToken(keys: IssuerKeys, options: TokenOptions = {}): Promise<string> {
  return new SignJWT({ ...(options.claims ?? {}) })
    .setProtectedHeader({ alg: 'ES256', kid: keys.kid, typ: 'JWT' })
    .setSubject(options.sub ?? `spiffe://${TEST_TRUST_DOMAIN}/agent/a`)
    .setIssuer(options.iss ?? TEST_ISSUER)
    .setAudience(options.aud ?? TEST_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresIn ?? 600))
    .sign(keys.privateKey);
}

/** The `identity:` block every test config uses: one Agent issuer whose keys are `jwks.json` beside the config. */
export const TEST_IDENTITY = {
  issuers: [
    {
      name: 'test',
      principal: 'Agent',
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      jwks: 'file:jwks.json',
      algorithms: ['ES256'],
      trustDomain: TEST_TRUST_DOMAIN,
    },
  ],
};
