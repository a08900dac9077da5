import type { Redis } from 'ioredis';
import { createRedisApprovalStore } from '../../gateway/approvals/redis-store.js';
import { storeClientOptions } from '../../gateway/store/redis.js';
import { createRedisClient } from '../../gateway/store/topology.js';
import { type ClusterSetup, startClusterSetup } from '../reliability/support/topologies.js';
import { testPrefix } from '../support/redis.js';
import { runApprovalStoreContract } from '../unit/approvals/store-contract.js';

// Every approval script touches one key, and a task's approvals hash carries the task's hash tag: the same
// contract holds on a real Redis Cluster (three primaries of the test's own, keys spread over them).
runApprovalStoreContract('Redis Cluster', async () => {
  const setup: ClusterSetup = await startClusterSetup();
  const client = createRedisClient(setup.url, storeClientOptions(1_000)) as unknown as Redis;
  client.on('error', () => {});
  await client.connect();
  return {
    store: createRedisApprovalStore(client, testPrefix('approvals-cluster')),
    async cleanup() {
      client.disconnect();
      await setup.close();
    },
  };
});
