import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import type { IdentityVerifier } from '../../../gateway/identity/types.js';
import {
  bearer,
  identityConfig,
  input,
  makeKey,
  manualClock,
  sign,
  type TestKey,
  writeJwks,
} from '../../identity/support.js';

/**
 * The pipeline answers a token whose verification is cached at once (`cached`, no promise). Attacked as an agent
 * would: nothing `verify` refuses may pass through `cached`, and a verification is never served past its deadline.
 */
describe('a cached verification is a map lookup, never a way around verify', () => {
  const clock = manualClock(1_800_000_000_000);
  let key: TestKey;
  let verifier: IdentityVerifier;
  const ISS = 'https://ci.example';
  const seconds = () => Math.floor(clock.now() / 1000);

  beforeAll(async () => {
    key = await makeKey('k1');
    const { dir, file } = await writeJwks({ keys: [key.jwk] });
    verifier = await createIdentityVerifier(
      identityConfig([
        { name: 'ci', principal: 'Agent', issuer: ISS, audience: 'escrow', jwks: `file:${file}` },
        {
          name: 'once',
          principal: 'Agent',
          issuer: 'https://once.example',
          audience: 'escrow',
          jwks: `file:${file}`,
          header: 'x-once-token',
          replayCache: false,
        },
      ]),
      { baseDir: dir, now: clock.now },
    );
  });
  afterAll(() => verifier.close());

  it('knows nothing of a token before verify accepted it, then answers with the same principal', async () => {
    const token = await sign(key, { iss: ISS, aud: 'escrow', sub: 'agent-a', iat: seconds(), exp: seconds() + 60 });
    expect(verifier.cached!(bearer(token))).toBeUndefined();
    const principal = await verifier.verify(bearer(token));
    expect(verifier.cached!(bearer(token))).toBe(principal);
  });

  it('stops answering at the token expiry: the slow path then refuses it', async () => {
    const token = await sign(key, { iss: ISS, aud: 'escrow', sub: 'agent-b', iat: seconds(), exp: seconds() + 30 });
    await verifier.verify(bearer(token));
    expect(verifier.cached!(bearer(token))).toBeDefined();
    clock.advance(31);
    expect(verifier.cached!(bearer(token))).toBeUndefined(); // the deadline is `exp`, clock tolerance or not
    clock.advance(600); // past any clock tolerance
    await expect(verifier.verify(bearer(token))).rejects.toMatchObject({ reason: 'token_expired' });
    expect(verifier.cached!(bearer(token))).toBeUndefined();
  });

  it('throws what verify refuses for a request that carries a cached token twice (two headers)', async () => {
    const token = await sign(key, { iss: ISS, aud: 'escrow', sub: 'agent-c', iat: seconds(), exp: seconds() + 60 });
    await verifier.verify(bearer(token));
    const twice = input({ authorization: [`Bearer ${token}`, `Bearer ${token}`] });
    expect(() => verifier.cached!(twice)).toThrow(expect.objectContaining({ reason: 'duplicate_header' }));
    const both = input({ authorization: `Bearer ${token}`, 'x-once-token': token });
    expect(() => verifier.cached!(both)).toThrow(expect.objectContaining({ reason: 'duplicate_header' }));
    await expect(verifier.verify(twice)).rejects.toMatchObject({ reason: 'duplicate_header' });
  });

  it('keys by where the token was found: one verified in its issuer header is not a hit in another', async () => {
    const token = await sign(key, { iss: ISS, aud: 'escrow', sub: 'agent-d', iat: seconds(), exp: seconds() + 60 });
    await verifier.verify(bearer(token));
    // The same token in the other issuer's header: that issuer's verification has never accepted it.
    expect(verifier.cached!(input({ 'x-once-token': token }))).toBeUndefined();
    await expect(verifier.verify(input({ 'x-once-token': token }))).rejects.toBeDefined();
  });
});
