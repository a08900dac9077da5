import { createMemoryStore } from './memory.js';
import { createRedisStore, type RedisStoreOptions } from './redis.js';
import type { Store } from './types.js';

/** Options for either store (the memory store reads only `url` and the audit stream's bounds). */
export type StoreOptions = RedisStoreOptions;

/** `memory://` (one process only), or Redis: `redis://`, `rediss://`, `redis+sentinel://`, `redis+cluster://`. */
export async function createStore(options: StoreOptions): Promise<Store> {
  if (options.url.startsWith('memory://')) {
    return createMemoryStore({ eventsMaxLen: options.streamMaxLen, eventsRetentionMs: options.streamRetentionMs });
  }
  return createRedisStore(options);
}
