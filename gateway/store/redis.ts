import { randomBytes } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { EscrowError } from '../errors.js';
import { keyLayout } from './keys.js';
import { createRedisEventStream } from './redis-audit.js';
import { watchSubscription } from './redis-subscription.js';
import { createRedisClient } from './topology.js';
import type { Store } from './types.js';

export interface RedisStoreOptions {
  readonly url: string;
  readonly prefix: string;
  /** Each command fails after this long: the request then gets 503 instead of hanging. */
  readonly timeoutMs: number;
  /** From `storePassword` (a secret reference), so the password need not sit in the `store:` URL. */
  readonly password?: string;
  /** The audit stream's size bound: at it, a batch is refused, never an older entry evicted. */
  readonly streamMaxLen?: number;
  /** Audit stream entries older than this are trimmed (by Redis' clock). */
  readonly streamRetentionMs?: number;
  /** The audit stream's length after each batch. */
  readonly onStreamLength?: (entries: number) => void;
  /** Called on every failed command (for `escrow_store_errors_total` and logs). */
  readonly onError?: (error: Error) => void;
  /** How often the revocation subscriber is pinged; a missed answer counts as a lost subscription. */
  readonly healthCheckMs?: number;
}

// Atomic: write the lease only if absent, and index it under its task (same hash slot).
const PUT_LEASE_IF_ABSENT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], KEYS[1])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
  return 1
end
return 0`;

const REPLACE_LEASE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1`;

const DELETE_LEASES = `
local keys = redis.call('SMEMBERS', KEYS[1])
local values = {}
for _, k in ipairs(keys) do
  local v = redis.call('GET', k)
  if v then table.insert(values, k); table.insert(values, v) end
  redis.call('DEL', k)
end
redis.call('DEL', KEYS[1])
return values`;

// The child joins its parent's child set, which lives as long as the longest-lived child.
const ADD_CHILD = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`;

// Atomic: a step added to the child set concurrently is either returned here or finds its parent gone.
const DELETE_TASK = `
local children = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return children`;

const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

function splitMember(member: string): { taskId: string; principalHash: string } {
  const at = member.lastIndexOf(':');
  return { taskId: member.slice(0, at), principalHash: member.slice(at + 1) };
}

/**
 * The store's client options: no offline queue and bounded commands, so that a failing Redis answers an error
 * within `timeoutMs` instead of hanging the request; reconnects back off up to 2 s.
 */
export function storeClientOptions(timeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 1_000),
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
  };
}

/** The Redis store. Commands never queue while Redis is down: they fail fast and the request gets 503. */
export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  const keys = keyLayout(options.prefix);
  const redisOptions: RedisOptions = {
    ...storeClientOptions(options.timeoutMs),
    ...(options.password !== undefined ? { password: options.password } : {}),
  };
  // redis://, rediss://, redis+sentinel://, redis+cluster:// (topology.ts). A Cluster client has the same
  // command surface; one task's keys share a slot through the `{taskId}` hash tag, so the Lua scripts work.
  const revived = () => options.onError?.(new Error('the Redis client gave up reconnecting; connecting it again'));
  const client = createRedisClient(options.url, redisOptions, revived) as Redis;
  let lastError: Error | undefined; // ioredis rejects a failed connect() with "Connection is closed": keep why
  client.on('error', (error: Error) => {
    lastError = error; // otherwise surfaced per command below; ioredis reconnects by itself
  });
  // Named so that operators (and tests) can tell Escrow's subscriber apart in `CLIENT LIST`.
  const subscriber = createRedisClient(
    options.url,
    {
      ...redisOptions,
      enableOfflineQueue: true,
      commandTimeout: undefined,
      // watchSubscription subscribes on every 'ready' and handles a refusal; ioredis' own resubscribe would
      // surface a refused SUBSCRIBE (e.g. an ACL) as an unhandled rejection.
      autoResubscribe: false,
      connectionName: `escrow-revocations:${options.prefix}`,
    },
    revived,
  ) as Redis;
  subscriber.on('error', () => {});
  let stopWatching = () => {};

  const fail = (error: unknown): never => {
    const err = error instanceof Error ? error : new Error(String(error));
    options.onError?.(err);
    throw new EscrowError('store_unavailable', 'the lease store is unavailable', { cause: err });
  };
  const run = async <T>(op: () => Promise<T>): Promise<T> => op().catch(fail);

  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    fail(lastError ?? error);
  }

  const events = createRedisEventStream(client, {
    keys,
    retentionMs: options.streamRetentionMs ?? 3_600_000,
    maxLen: options.streamMaxLen ?? 500_000,
    ...(options.onStreamLength ? { onLength: options.onStreamLength } : {}),
  });
  return {
    kind: 'redis',
    redis: client,
    tasks: {
      put: (id, record, ttlMs, parent) =>
        run(async () => {
          await client.set(keys.task(id), record, 'PX', ttlMs);
          // A separate command: the child's record and its parent's child set are in different slots.
          if (parent !== undefined) await client.eval(ADD_CHILD, 1, keys.taskChildren(parent), id, ttlMs);
        }),
      get: (id) => run(() => client.get(keys.task(id))),
      delete: (id) =>
        run(async () => (await client.eval(DELETE_TASK, 2, keys.task(id), keys.taskChildren(id))) as string[]),
    },
    leases: {
      get: (taskId, target) => run(() => client.get(keys.lease(taskId, target))),
      putIfAbsent: (taskId, target, value, ttlMs) =>
        run(async () => {
          const written = await client.eval(
            PUT_LEASE_IF_ABSENT,
            2,
            keys.lease(taskId, target),
            keys.taskLeases(taskId),
            value,
            ttlMs,
          );
          return written === 1;
        }),
      replace: (taskId, target, value, ttlMs) =>
        run(async () => {
          await client.eval(REPLACE_LEASE, 2, keys.lease(taskId, target), keys.taskLeases(taskId), value, ttlMs);
        }),
      deleteForTask: (taskId) =>
        run(async () => {
          const flat = (await client.eval(DELETE_LEASES, 1, keys.taskLeases(taskId))) as string[];
          const leasePrefix = keys.lease(taskId, '');
          const out: { target: string; value: string }[] = [];
          for (let i = 0; i + 1 < flat.length; i += 2) {
            out.push({ target: flat[i]!.slice(leasePrefix.length), value: flat[i + 1]! });
          }
          return out;
        }),
    },
    index: {
      add: (taskId, principalHash, expiresAtMs) =>
        run(async () => {
          await client.zadd(keys.tasks, expiresAtMs, `${taskId}:${principalHash}`);
          await client.zadd(keys.principalTasks(principalHash), expiresAtMs, taskId);
        }),
      remove: (taskId, principalHash) =>
        run(async () => {
          await client.zrem(keys.tasks, `${taskId}:${principalHash}`);
          await client.zrem(keys.principalTasks(principalHash), taskId);
        }),
      byPrincipal: (principalHash, nowMs) =>
        run(async () => {
          await client.zremrangebyscore(keys.principalTasks(principalHash), '-inf', nowMs);
          return client.zrange(keys.principalTasks(principalHash), 0, -1);
        }),
      range: (fromMs, untilMs, limit) =>
        run(async () => {
          const until = Number.isFinite(untilMs) ? untilMs : '+inf';
          const from = Number.isFinite(fromMs) ? fromMs : '-inf';
          const members = await client.zrangebyscore(keys.tasks, from, until, 'LIMIT', 0, limit);
          return members.map(splitMember);
        }),
    },
    locks: {
      acquire: (name, ttlMs) =>
        run(async () => {
          const token = randomBytes(12).toString('hex');
          return (await client.set(keys.lock(name), token, 'PX', ttlMs, 'NX')) === 'OK' ? token : null;
        }),
      release: (name, token) =>
        run(async () => {
          await client.eval(RELEASE_LOCK, 1, keys.lock(name), token);
        }),
    },
    revocations: {
      publish: (message) =>
        run(async () => {
          await client.publish(keys.revocations, message);
        }),
      async subscribe(onMessage, onState) {
        stopWatching = watchSubscription(subscriber, {
          channel: keys.revocations,
          healthCheckMs: options.healthCheckMs ?? 1_000,
          timeoutMs: options.timeoutMs,
          onMessage,
          onState,
        });
        await subscriber.connect().catch(fail);
      },
    },
    events: {
      append: (batch) => run(() => events.append(batch)),
      readAll: () => run(() => events.readAll()),
      read: () => run(() => events.read()),
    },
    ping: () =>
      run(async () => {
        await client.ping();
      }),
    async close() {
      stopWatching();
      subscriber.disconnect();
      await client.quit().catch(() => client.disconnect());
    },
  };
}
