import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EscrowError } from '../../../gateway/errors.js';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import type { IdentityVerifier } from '../../../gateway/identity/types.js';
import { bearer, identityConfig, makeKey, sign, type TestKey, writeJwks } from '../../identity/support.js';

const ISS = 'https://replay.example';

describe('with replayCache a token is accepted once, across verifiers sharing Redis', () => {
  const prefix = `escrowtest:identity:${randomUUID()}:`;
  let redis: Redis;
  let key: TestKey;
  let first: IdentityVerifier;
  let second: IdentityVerifier;

  beforeAll(async () => {
    redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
    await redis.connect();
    key = await makeKey('r1');
    const { dir, file } = await writeJwks({ keys: [key.jwk] });
    const config = identityConfig([
      { name: 'once', principal: 'Agent', issuer: ISS, audience: 'escrow', jwks: `file:${file}`, replayCache: true },
    ]);
    first = await createIdentityVerifier(config, { baseDir: dir, redis, redisPrefix: prefix });
    second = await createIdentityVerifier(config, { baseDir: dir, redis, redisPrefix: prefix });
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('refuses the second use, even on another replica', async () => {
    const token = await sign(key, { iss: ISS, aud: 'escrow', sub: 'a', jti: randomUUID() });
    await expect(first.verify(bearer(token))).resolves.toMatchObject({ id: 'a' });
    await expect(second.verify(bearer(token))).rejects.toMatchObject({ reason: 'token_replayed' });
    await expect(first.verify(bearer(token))).rejects.toMatchObject({ reason: 'token_replayed' });
  });

  it('keeps the jti only until the token expires', async () => {
    const exp = Math.floor(Date.now() / 1000) + 120;
    const jti = randomUUID();
    await first.verify(bearer(await sign(key, { iss: ISS, aud: 'escrow', sub: 'a', jti, exp })));
    const digest = createHash('sha256').update(jti).digest('base64url');
    const ttl = await redis.pttl(`${prefix}jti:once:${digest}`);
    expect(ttl).toBeGreaterThan(100_000);
    expect(ttl).toBeLessThanOrEqual((120 + 30) * 1000);
  });

  it('requires a jti', async () => {
    const token = await sign(key, { iss: ISS, aud: 'escrow', sub: 'a' });
    await expect(first.verify(bearer(token))).rejects.toMatchObject({ reason: 'claim_missing' });
  });

  it('fails closed when Redis is unreachable', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    dead.on('error', () => {});
    const { dir, file } = await writeJwks({ keys: [key.jwk] });
    const config = identityConfig([
      { name: 'once', principal: 'Agent', issuer: ISS, audience: 'escrow', jwks: `file:${file}`, replayCache: true },
    ]);
    const verifier = await createIdentityVerifier(config, { baseDir: dir, redis: dead, redisPrefix: prefix });
    const error = await verifier
      .verify(bearer(await sign(key, { iss: ISS, aud: 'escrow', sub: 'a', jti: 'j' })))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EscrowError);
    expect(error).toMatchObject({ code: 'store_unavailable', reason: 'replay_cache_unavailable' });
    dead.disconnect();
  });

  it('refuses to start without Redis', async () => {
    const config = identityConfig([
      { name: 'once', principal: 'Agent', issuer: ISS, audience: 'escrow', jwks: 'file:x.json', replayCache: true },
    ]);
    await expect(createIdentityVerifier(config, { baseDir: '/' })).rejects.toMatchObject({ code: 'config_invalid' });
  });
});
