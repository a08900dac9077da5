import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.ESCROW_TEST_REDIS ?? 'redis://127.0.0.1:6379/0';

/** A key prefix of this test's own. */
export function testPrefix(area: string): string {
  return `escrowtest:${area}:${randomBytes(4).toString('hex')}:`;
}

/** Delete every key under `prefix` (tests clean up after themselves). */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Every key and value under `prefix` (strings, sets, streams), for "no secret in clear" dumps. */
export async function dumpPrefix(prefix: string): Promise<string> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}*`);
    const parts: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'string') parts.push(key, (await redis.get(key)) ?? '');
      else if (type === 'set') parts.push(key, ...(await redis.smembers(key)));
      else if (type === 'zset') parts.push(key, ...(await redis.zrange(key, 0, -1)));
      else if (type === 'stream') parts.push(key, JSON.stringify(await redis.xrange(key, '-', '+')));
      else parts.push(key);
    }
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}
