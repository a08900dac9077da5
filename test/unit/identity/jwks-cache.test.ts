import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
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
} from '../../identity/support.js';

const ISS = 'https://keys.example';

describe('the JWKS cache refetches sparingly, survives an outage up to max stale age, then fails closed', () => {
  let k1: TestKey;
  let k2: TestKey;
  let server: JwksServer;
  let clock: ReturnType<typeof manualClock>;
  let verifier: IdentityVerifier;

  const token = (key: TestKey, kid = key.kid) =>
    sign(key, { iss: ISS, aud: 'escrow', sub: 'w', iat: clock.seconds(), exp: clock.seconds() + 3_600 }, { kid });

  beforeEach(async () => {
    k1 = await makeKey('k1');
    k2 = await makeKey('k2');
    server = await startJwksServer([k1.jwk]);
    clock = manualClock();
    const issuer = {
      name: 'keys',
      principal: 'Agent',
      issuer: ISS,
      audience: 'escrow',
      jwks: server.url,
      jwksRefreshSeconds: 60,
      jwksCooldownSeconds: 30,
      jwksMaxStaleSeconds: 600,
      maxTokenAgeSeconds: 7_200,
    };
    verifier = await createIdentityVerifier(identityConfig([issuer]), { baseDir: '/', now: clock.now });
  });
  afterEach(async () => {
    verifier.close();
    await server.close();
  });

  it('a flood of unknown kids causes at most one fetch per cooldown', async () => {
    expect(server.requests).toBe(1);
    clock.advance(31);
    const forged = await Promise.all(Array.from({ length: 50 }, (_, i) => token(k2, `made-up-${i}`)));
    const results = await Promise.allSettled(forged.map((t) => verifier.verify(bearer(t))));
    expect(results.every((r) => r.status === 'rejected' && r.reason.reason === 'unknown_key')).toBe(true);
    expect(server.requests).toBe(2);
    await Promise.allSettled(forged.map((t) => verifier.verify(bearer(t))));
    expect(server.requests).toBe(2);
  });

  it('a key added at the issuer is used after the cooldown, without restart', async () => {
    server.keys = [k1.jwk, k2.jwk];
    await expect(verifier.verify(bearer(await token(k2)))).rejects.toMatchObject({ reason: 'unknown_key' });
    clock.advance(31);
    await expect(verifier.verify(bearer(await token(k2)))).resolves.toMatchObject({ id: 'w' });
  });

  it('refreshes in the background every jwksRefreshSeconds, dropping removed keys', async () => {
    server.keys = [k2.jwk];
    clock.advance(61);
    const token2 = await token(k2);
    await verifier.verify(bearer(await token(k1))); // still served from cache; triggers the refresh
    await expect(eventually(() => verifier.verify(bearer(token2)))).resolves.toMatchObject({ id: 'w' });
    expect(server.requests).toBe(2);
    await expect(verifier.verify(bearer(await token(k1)))).rejects.toMatchObject({ reason: 'unknown_key' });
  });

  it('keeps known keys through an outage until jwksMaxStaleSeconds, then refuses every token', async () => {
    server.down = true;
    clock.advance(300);
    await expect(verifier.verify(bearer(await token(k1)))).resolves.toMatchObject({ id: 'w' });
    clock.advance(301);
    await expect(verifier.verify(bearer(await token(k1)))).rejects.toMatchObject({
      code: 'identity_rejected',
      reason: 'jwks_unavailable',
    });
    server.down = false;
    clock.advance(31);
    await expect(verifier.verify(bearer(await token(k1)))).resolves.toMatchObject({ id: 'w' });
  });

  it('an issuer that was never reachable fails closed, and does not refetch on every request', async () => {
    server.down = true;
    const other = await createIdentityVerifier(
      identityConfig([{ name: 'down', principal: 'Agent', issuer: ISS, audience: 'escrow', jwks: server.url }]),
      { baseDir: '/', now: clock.now },
    );
    const before = server.requests;
    for (let i = 0; i < 10; i += 1) {
      await expect(other.verify(bearer(await token(k1)))).rejects.toMatchObject({ reason: 'jwks_unavailable' });
    }
    expect(server.requests).toBe(before);
  });
});
