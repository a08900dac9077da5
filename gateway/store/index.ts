import { createMemoryStore } from './memory.js';
import { createRedisStore } from './redis.js';
import type { Store } from './types.js';

export interface StoreOptions {
  readonly url: string;
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly password?: string;
  readonly streamMaxLen?: number;
  readonly onError?: (error: Error) => void;
}

/** `memory://` (one process only), or Redis: `redis://`, `rediss://`, `redis+sentinel://`, `redis+cluster://`. */
export async function createStore(options: StoreOptions): Promise<Store> {
  if (options.url.startsWith('memory://')) return createMemoryStore({ eventsMaxLen: options.streamMaxLen });
  return createRedisStore(options);
}
