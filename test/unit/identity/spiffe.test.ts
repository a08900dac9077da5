import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import { parseSpiffeId } from '../../../gateway/identity/spiffe.js';
import type { IdentityVerifier } from '../../../gateway/identity/types.js';
import {
  bearer,
  eventually,
  identityConfig,
  type JwksServer,
  makeKey,
  manualClock,
  sign,
  startJwksServer,
  type TestKey,
  writeJwks,
} from '../../identity/support.js';

describe('JWT-SVIDs are verified against SPIFFE trust bundles, honouring `use` marks and trust domains', () => {
  let svid: TestKey;
  let x509: TestKey;
  let enc: TestKey;
  let partner: TestKey;
  let verifier: IdentityVerifier;

  beforeAll(async () => {
    svid = await makeKey('svid-1', 'ES256', { use: 'jwt-svid' });
    x509 = await makeKey('x509-1', 'ES256', { use: 'x509-svid' });
    enc = await makeKey('enc-1', 'ES256', { use: 'enc' });
    partner = await makeKey('partner-1', 'RS256', { use: 'jwt-svid' });
    const ours = await writeJwks({ keys: [svid.jwk, x509.jwk, enc.jwk], spiffe_sequence: 7, spiffe_refresh_hint: 300 });
    const theirs = await writeJwks({ keys: [partner.jwk], spiffe_sequence: 1 });
    verifier = await createIdentityVerifier(
      identityConfig([
        {
          name: 'spire',
          principal: 'Agent',
          audience: 'escrow',
          jwks: `file:${ours.dir}/${ours.file}`,
          trustDomain: 'example.org',
        },
        {
          name: 'partner',
          principal: 'Agent',
          audience: 'escrow',
          jwks: `file:${theirs.dir}/${theirs.file}`,
          trustDomain: 'partner.example',
          algorithms: ['RS256'],
        },
      ]),
      { baseDir: '/' },
    );
  });
  afterAll(() => verifier.close());

  it('accepts a JWT-SVID (no iss) signed by a jwt-svid key', async () => {
    const token = await sign(svid, { aud: 'escrow', sub: 'spiffe://example.org/ns/prod/sa/agent' });
    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({
      type: 'Agent',
      id: 'spiffe://example.org/ns/prod/sa/agent',
      issuer: 'spire',
      trustDomain: 'example.org',
    });
  });

  it('chooses among bundles by key: a partner SVID resolves to the partner issuer', async () => {
    const token = await sign(partner, { aud: 'escrow', sub: 'spiffe://partner.example/bot' });
    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ issuer: 'partner' });
  });

  it.each([
    ['x509-svid', () => x509],
    ['enc', () => enc],
  ])('refuses a token signed with a key marked use=%s', async (_use, key) => {
    const token = await sign(key(), { aud: 'escrow', sub: 'spiffe://example.org/a' });
    await expect(verifier.verify(bearer(token))).rejects.toMatchObject({ reason: 'unknown_key' });
  });

  it("refuses a SPIFFE ID from another trust domain, even when signed by our bundle's key", async () => {
    const token = await sign(svid, { aud: 'escrow', sub: 'spiffe://partner.example/bot' });
    await expect(verifier.verify(bearer(token))).rejects.toMatchObject({ reason: 'trust_domain_mismatch' });
  });

  it.each([
    'spiffe://Example.org/a',
    'spiffe://example.org',
    'spiffe://example.org/',
    'spiffe://example.org/a//b',
    'spiffe://example.org/a/',
    'spiffe://example.org/./a',
    'spiffe://example.org/a/..',
    'spiffe://example.org/a?x=1',
    'spiffe://example.org/a#f',
    'spiffe://example.org:8443/a',
    'spiffe://user@example.org/a',
    'spiffe://example.org/%2e%2e',
    'SPIFFE://example.org/a',
    'https://example.org/a',
    'agent-7',
  ])('refuses sub %s as spiffe_id_invalid', async (sub) => {
    const token = await sign(svid, { aud: 'escrow', sub });
    await expect(verifier.verify(bearer(token))).rejects.toMatchObject({ reason: 'spiffe_id_invalid' });
  });

  it('parses a valid SPIFFE ID into trust domain and path', () => {
    expect(parseSpiffeId('spiffe://td.example-1/ns/a_b/sa/c.d')).toEqual({
      trustDomain: 'td.example-1',
      path: '/ns/a_b/sa/c.d',
    });
  });
});

describe('a SPIFFE bundle served over HTTP is re-read at its spiffe_refresh_hint', () => {
  let server: JwksServer;
  afterAll(() => server.close());

  it('re-reads after the hint, not after jwksRefreshSeconds', async () => {
    const k1 = await makeKey('b1', 'ES256', { use: 'jwt-svid' });
    const k2 = await makeKey('b2', 'ES256', { use: 'jwt-svid' });
    server = await startJwksServer([k1.jwk]);
    server.extra = { spiffe_refresh_hint: 5, spiffe_sequence: 1 };
    const clock = manualClock();
    const verifier = await createIdentityVerifier(
      identityConfig([
        {
          name: 'spire',
          principal: 'Agent',
          audience: 'escrow',
          jwks: server.url,
          trustDomain: 'example.org',
          jwksRefreshSeconds: 3_600,
          jwksCooldownSeconds: 1,
        },
      ]),
      { baseDir: '/', now: clock.now },
    );
    const claims = () => ({
      aud: 'escrow',
      sub: 'spiffe://example.org/a',
      iat: clock.seconds(),
      exp: clock.seconds() + 60,
    });
    server.keys = [k2.jwk]; // the bundle rotates: k1 is withdrawn
    clock.advance(6);
    await verifier.verify(bearer(await sign(k1, claims()))); // still cached; starts the re-read
    await eventually(async () => {
      await expect(verifier.verify(bearer(await sign(k1, claims())))).rejects.toMatchObject({ reason: 'unknown_key' });
    });
    await expect(verifier.verify(bearer(await sign(k2, claims())))).resolves.toMatchObject({
      id: 'spiffe://example.org/a',
    });
    expect(server.requests).toBe(2);
  });
});
