import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { EventStream } from '../../gateway/store/types.js';

/** A tiny EventStream over a real ioredis client, as the Redis store implements it: `XADD … MAXLEN ~ N`. */
export function redisEventStream(client: Redis, key: string, maxLen = 10_000): EventStream {
  return {
    async append(event) {
      await client.xadd(key, 'MAXLEN', '~', String(maxLen), '*', 'e', event);
    },
    async readAll() {
      const entries = await client.xrange(key, '-', '+');
      return entries.map(([, fields]) => fields[fields.indexOf('e') + 1] ?? '');
    },
  };
}

/** A unique key under this area's test prefix. */
export function testKey(): string {
  return `escrowtest:audit:${randomBytes(6).toString('hex')}:audit`;
}

/** A client that fails fast while disconnected, so a test can take the sink down and bring it back. */
export function failFastClient(): Redis {
  return new Redis({
    host: '127.0.0.1',
    port: 6379,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
  });
}
