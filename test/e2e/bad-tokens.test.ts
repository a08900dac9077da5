import { createHmac, createPublicKey } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { createIssuerKeys, TEST_AUDIENCE, TEST_ISSUER, TEST_TRUST_DOMAIN } from '../support/keys.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

const sub = `spiffe://${TEST_TRUST_DOMAIN}/agent/a`;
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('a bad workload token gets 401 and reaches neither policy nor upstream', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  const tokens: Record<string, () => Promise<string>> = {};

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      store: 'memory',
      env: { K: 'canary-key-51c2e8' },
      targets: [echoTarget(upstream.url, 'env:K', { ttl: 60, requireTask: false })],
    });
    const { privateKey, kid, jwks } = escrow.keys;
    const signed = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, ...header }).sign(privateKey);
    const good = { sub, iss: TEST_ISSUER, aud: TEST_AUDIENCE, iat: now(), exp: now() + 300 };
    const other = await createIssuerKeys();
    tokens.expired = () => signed({ ...good, iat: now() - 600, exp: now() - 300 });
    tokens['not yet valid'] = () => signed({ ...good, nbf: now() + 600 });
    tokens['wrong aud'] = () => signed({ ...good, aud: 'someone-else' });
    tokens['wrong iss'] = () => signed({ ...good, iss: 'https://evil.test' });
    tokens['alg none'] = async () => new UnsecuredJWT(good).encode();
    tokens['unknown kid'] = () =>
      new SignJWT(good).setProtectedHeader({ alg: 'ES256', kid: 'nope' }).sign(other.privateKey);
    tokens['signed by another key with a known kid'] = () =>
      new SignJWT(good).setProtectedHeader({ alg: 'ES256', kid }).sign(other.privateKey);
    tokens['missing exp'] = () => signed({ sub, iss: TEST_ISSUER, aud: TEST_AUDIENCE, iat: now() });
    tokens['HS256 keyed with the public key'] = async () => {
      const pem = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' } as never).export({
        type: 'spki',
        format: 'pem',
      });
      const input = `${b64({ alg: 'HS256', kid })}.${b64(good)}`;
      return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
    };
    tokens.garbage = async () => 'not-a-jwt';
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it.each([
    'expired',
    'not yet valid',
    'wrong aud',
    'wrong iss',
    'alg none',
    'unknown kid',
    'signed by another key with a known kid',
    'missing exp',
    'HS256 keyed with the public key',
    'garbage',
  ])('%s → 401 with a reason that does not echo the token', async (name) => {
    const token = await tokens[name]!();
    const res = await fetch(`${escrow.url}/echo/x`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    expect(res.status).toBe(401);
    expect(text).not.toContain(token);
    expect(JSON.parse(text).reason).toMatch(/^[a-z_]+$/);
    expect(upstream.requests).toHaveLength(0);
  });

  it('no token at all → 401', async () => {
    const res = await fetch(`${escrow.url}/echo/x`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
  });

  it('counts failures by reason in escrow_identity_failures_total', async () => {
    const text = await (await fetch(`${escrow.adminUrl}/metrics`)).text();
    expect(text).toMatch(/escrow_identity_failures_total\{reason="token_expired"\} [1-9]/);
  });
});
