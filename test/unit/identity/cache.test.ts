import { describe, expect, it } from 'vitest';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import { bearer, identityConfig, input, makeKey, manualClock, sign, writeJwks } from '../../identity/support.js';

const ISS = 'https://cache.example';

async function setup(cacheSize: number, issuerExtra: Record<string, unknown> = {}) {
  const key = await makeKey('c1');
  const { dir, file } = await writeJwks({ keys: [key.jwk] });
  const clock = manualClock();
  const issuers = [
    { name: 'c', principal: 'Agent', issuer: ISS, audience: 'escrow', jwks: `file:${file}`, ...issuerExtra },
    { name: 'h', principal: 'Human', issuer: ISS, audience: 'escrow', jwks: `file:${file}`, header: 'x-api-key' },
  ];
  const verifier = await createIdentityVerifier(identityConfig(issuers, { cacheSize }), {
    baseDir: dir,
    now: clock.now,
  });
  const token = (sub: string, ttl = 300) =>
    sign(key, { iss: ISS, aud: 'escrow', sub, iat: clock.seconds(), exp: clock.seconds() + ttl });
  return { verifier, clock, token };
}

describe('a verified token is served from a bounded cache until it expires', () => {
  it('returns the same principal without verifying again', async () => {
    const { verifier, token } = await setup(10);
    const t = await token('a');
    expect(await verifier.verify(bearer(t))).toBe(await verifier.verify(bearer(t)));
  });

  it('forgets the entry at exp: the token is then verified again, and refused', async () => {
    const { verifier, clock, token } = await setup(10);
    const t = await token('a', 60);
    const cached = await verifier.verify(bearer(t));
    clock.advance(61); // past exp, within the 30 s clock tolerance: verified afresh, still valid
    expect(await verifier.verify(bearer(t))).not.toBe(cached);
    clock.advance(30);
    await expect(verifier.verify(bearer(t))).rejects.toMatchObject({ reason: 'token_expired' });
  });

  it('evicts the least recently used entry beyond cacheSize', async () => {
    const { verifier, token } = await setup(2);
    const [a, b, c] = await Promise.all([token('a'), token('b'), token('c')]);
    const first = await verifier.verify(bearer(a));
    await verifier.verify(bearer(b));
    await verifier.verify(bearer(c));
    expect(await verifier.verify(bearer(a))).not.toBe(first);
  });

  it('is off with cacheSize 0', async () => {
    const { verifier, token } = await setup(0);
    const t = await token('a');
    expect(await verifier.verify(bearer(t))).not.toBe(await verifier.verify(bearer(t)));
  });

  it('keys by the carrying header too: the same token in another header meets that header’s issuer', async () => {
    const { verifier, token } = await setup(10);
    const t = await token('a');
    expect((await verifier.verify(bearer(t))).type).toBe('Agent');
    expect((await verifier.verify(input({ 'x-api-key': t }))).type).toBe('Human');
  });
});
