import { Redis } from 'ioredis';
import { keyLayout } from '../../../gateway/store/keys.js';
import { createRedisEventStream } from '../../../gateway/store/redis-audit.js';
import type { EventStream } from '../../../gateway/store/types.js';
import { testPrefix } from '../../support/redis.js';

/** The store's audit stream over a given ioredis client, under `prefix` (no retention unless asked). */
export function redisEventStream(
  client: Redis,
  prefix: string,
  bounds: { retentionMs?: number; maxLen?: number } = {},
): EventStream {
  return createRedisEventStream(client, {
    keys: keyLayout(prefix),
    retentionMs: bounds.retentionMs ?? 0,
    maxLen: bounds.maxLen ?? 100_000,
  });
}

/** A key prefix of this area's own (remove it with `deletePrefix`). */
export function auditPrefix(): string {
  return testPrefix('audit');
}

/** A client that fails fast while disconnected, so a test can take the sink down and bring it back. */
export function failFastClient(port = 6379): Redis {
  return new Redis({
    host: '127.0.0.1',
    port,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
  });
}
