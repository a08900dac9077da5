import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { identityError } from './reasons.js';

/**
 * Single-use tokens: the first request that presents a `jti` claims it in Redis (SET NX), every later one is
 * `token_replayed`. The key lives until the token expires (plus the clock tolerance that still accepts it),
 * so the set stays as small as the set of live tokens. Shared Redis means replicas refuse replays together.
 * A Redis failure refuses the token: a replay check that cannot run must not pass.
 */
export async function claimTokenOnce(
  redis: Redis,
  key: { prefix: string; issuer: string; jti: unknown; exp: number; toleranceSeconds: number; nowMs: number },
): Promise<void> {
  if (typeof key.jti !== 'string' || key.jti === '') throw identityError('claim_missing');
  // Hash the jti: it is attacker-chosen text and should not shape Redis keys.
  const digest = createHash('sha256').update(key.jti).digest('base64url');
  const ttlMs = Math.max((key.exp + key.toleranceSeconds) * 1000 - key.nowMs, 1_000);
  let answer: string | null;
  try {
    answer = await redis.set(`${key.prefix}jti:${key.issuer}:${digest}`, '1', 'PX', ttlMs, 'NX');
  } catch (error) {
    throw identityError('replay_cache_unavailable', error);
  }
  if (answer !== 'OK') throw identityError('token_replayed');
}
