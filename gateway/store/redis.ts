import { setTimeout as delay } from 'node:timers/promises';
import type { Redis, RedisOptions } from 'ioredis';
import { EscrowError } from '../errors.js';
import { keyLayout } from './keys.js';
import { AUDIT_APPEND_COMMAND, createRedisEventStream } from './redis-audit.js';
import { type Run, redisCloseOutbox, redisLeaseStore, redisTaskIndex, redisTaskStore } from './redis-records.js';
import { RELEASE_LOCK } from './redis-scripts.js';
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

/**
 * The store's client options: no offline queue and bounded commands, so that a failing Redis answers an error
 * within `timeoutMs` instead of hanging the request; reconnects start after 50 ms and back off up to 2 s.
 */
export function storeClientOptions(timeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 1_000),
    enableAutoPipelining: true,
    // An audit batch is already one call for many events; a pipeline of its own around it cost ≈ 3–5 µs per batch
    // (bench/ablation.ts, `+ audit`), and batches rarely meet another command in the same tick.
    autoPipeliningIgnoredCommands: [AUDIT_APPEND_COMMAND],
    // A lost connection is back within 50 ms (a close waiting on it converges that much sooner), then backs off.
    retryStrategy: (attempt) => Math.min(50 * 2 ** (attempt - 1), 2_000),
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
  const run: Run = async (op) => op().catch(fail);
  return {
    kind: 'redis',
    redis: client,
    tasks: redisTaskStore(client, keys, run),
    leases: redisLeaseStore(client, keys, run),
    index: redisTaskIndex(client, keys, run),
    closing: redisCloseOutbox(client, keys, run),
    locks: {
      acquire: (name, token, ttlMs) =>
        run(async () => (await client.set(keys.lock(name), token, 'PX', ttlMs, 'NX')) === 'OK'),
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
        const watch = watchSubscription(subscriber, {
          channel: keys.revocations,
          healthCheckMs: options.healthCheckMs ?? 1_000,
          timeoutMs: options.timeoutMs,
          onMessage,
          onState,
        });
        stopWatching = watch.stop;
        await subscriber.connect().catch(fail);
        // Connected is not subscribed: wait for the first SUBSCRIBE's answer (bounded, like every store call), so
        // that /readyz says ready as soon as the process listens.
        await Promise.race([watch.answered, delay(options.timeoutMs, undefined, { ref: false })]);
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
