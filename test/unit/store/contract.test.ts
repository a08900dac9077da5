import { createMemoryStore } from '../../../gateway/store/memory.js';
import { createRedisStore } from '../../../gateway/store/redis.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../../support/redis.js';
import { runStoreContract } from './contract.js';

runStoreContract('the Redis', async () => {
  const prefix = testPrefix('store');
  const store = await createRedisStore({ url: REDIS_URL, prefix, timeoutMs: 1_000 });
  return {
    store,
    async cleanup() {
      await store.close();
      await deletePrefix(prefix);
    },
  };
});

runStoreContract('the memory', async () => {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
});
