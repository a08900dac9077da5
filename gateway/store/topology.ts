import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { EscrowError } from '../errors.js';

/** A Redis node address. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** What `store:` names: one server, a Sentinel-managed primary, or a Cluster. */
export type StoreTopology =
  | { readonly kind: 'standalone'; readonly url: string; readonly options: RedisOptions }
  | { readonly kind: 'sentinel'; readonly options: RedisOptions }
  | { readonly kind: 'cluster'; readonly nodes: readonly RedisNode[]; readonly options: ClusterOptions };

const MULTI = /^(redis|rediss)\+(sentinel|cluster):\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?$/;

function invalid(message: string): never {
  throw new EscrowError('config_invalid', `store: ${message}`);
}

function parseNodes(list: string, defaultPort: number): RedisNode[] {
  return list.split(',').map((entry) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(entry.trim());
    if (!match) return invalid(`"${entry}" is not host or host:port`);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port: match[2] === undefined ? defaultPort : Number(match[2]) };
  });
}

function parseAuth(userinfo: string | undefined): Pick<RedisOptions, 'username' | 'password'> {
  if (userinfo === undefined || userinfo === '') return {};
  const at = userinfo.indexOf(':');
  const username = decodeURIComponent(at === -1 ? userinfo : userinfo.slice(0, at));
  const password = at === -1 ? undefined : decodeURIComponent(userinfo.slice(at + 1));
  return { ...(username ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

/** ioredis's retry strategy as the Sentinel and Cluster options type it. */
function delay(strategy: NonNullable<RedisOptions['retryStrategy']>): (times: number) => number | null {
  return (times) => {
    const ms = strategy(times);
    return typeof ms === 'number' ? ms : null;
  };
}

function parseDb(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,2}$/.test(text)) return invalid(`database "${text}" must be a number`);
  return Number(text);
}

/**
 * Turn the `store:` URL into ioredis constructor arguments, on top of `base` (timeouts, offline queue off,
 * retry strategy: everything that keeps a failing store from hanging requests).
 *
 * - `redis://[user:pass@]host:port/db`, `rediss://…` — one server (TLS with `rediss`).
 * - `redis+sentinel://[user:pass@]s1:26379,s2:26379/<primaryName>[/db]` — the primary Sentinel names;
 *   the credentials are the data nodes'. `rediss+sentinel://` uses TLS to the sentinels and the data nodes.
 * - `redis+cluster://[user:pass@]n1:7000,n2:7001` — a Redis Cluster (no database number: Cluster has only 0).
 */
export function storeTopology(url: string, base: RedisOptions): StoreTopology {
  if (/^rediss?:\/\//.test(url)) return { kind: 'standalone', url, options: base };
  const match = MULTI.exec(url);
  if (!match) return invalid('must be redis://, rediss://, redis+sentinel://… or redis+cluster://…');
  const [, scheme, mode, userinfo, hosts, path] = match;
  const tls = scheme === 'rediss' ? { tls: {} } : {};
  const auth = parseAuth(userinfo);
  const segments = (path ?? '').split('/').filter(Boolean);
  if (mode === 'sentinel') {
    const [name, db, ...rest] = segments;
    if (name === undefined || rest.length > 0) return invalid('redis+sentinel://hosts/<primaryName>[/db]');
    return {
      kind: 'sentinel',
      options: {
        ...base,
        ...auth,
        ...tls,
        ...(scheme === 'rediss' ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
        sentinels: parseNodes(hosts!, 26379),
        name,
        role: 'master',
        db: parseDb(db),
        // Follow `+switch-master` at once instead of finding the new primary only after errors.
        failoverDetector: true,
        ...(base.retryStrategy ? { sentinelRetryStrategy: delay(base.retryStrategy) } : {}),
        sentinelCommandTimeout: base.commandTimeout,
      },
    };
  }
  if (segments.length > 1 || (segments[0] !== undefined && segments[0] !== '0')) {
    return invalid('redis+cluster:// has no database number (Redis Cluster only has database 0)');
  }
  const { retryStrategy, enableOfflineQueue, lazyConnect, enableAutoPipelining, db: _db, ...perNode } = base;
  return {
    kind: 'cluster',
    nodes: parseNodes(hosts!, 6379),
    options: {
      redisOptions: { ...perNode, ...auth, ...tls },
      ...(retryStrategy ? { clusterRetryStrategy: delay(retryStrategy) } : {}),
      enableOfflineQueue: enableOfflineQueue ?? false,
      ...(lazyConnect !== undefined ? { lazyConnect } : {}),
      ...(enableAutoPipelining !== undefined ? { enableAutoPipelining } : {}),
      slotsRefreshTimeout: Math.max(base.commandTimeout ?? 1_000, 1_000),
    },
  };
}

/** How long a client that gave up waits before it is connected again (see `reconnectWhenEnded`). */
const REVIVE_DELAY_MS = 1_000;

/**
 * Keep `client` connected for as long as it is not closed on purpose.
 *
 * ioredis can give up for good on its own: in Sentinel mode, a `+switch-master` that reaches the failover detector
 * while the client is asking a sentinel for the primary makes that reconnect reject, and the client ends in status
 * `end`: every later command fails "Connection is closed" until the process restarts (reproduced here by killing
 * the primary and firing the detector during the reconnect; seen in CI as a store that never came back after a
 * failover the sentinel had completed). A store must come back by itself, so an `end` that `disconnect()` or
 * `quit()` did not ask for connects the client again after a short delay.
 */
function reconnectWhenEnded<T extends Redis | Cluster>(client: T, onRevive: () => void): T {
  let closing = false;
  const disconnect = client.disconnect.bind(client);
  const quit = client.quit.bind(client);
  client.disconnect = (reconnect = false) => {
    if (!reconnect) closing = true;
    disconnect(reconnect);
  };
  client.quit = ((...args: Parameters<typeof quit>) => {
    closing = true;
    return quit(...args);
  }) as typeof client.quit;
  client.on('end', () => {
    if (closing) return;
    onRevive();
    setTimeout(() => {
      if (!closing && client.status === 'end') client.connect().catch(() => {});
    }, REVIVE_DELAY_MS).unref();
  });
  return client;
}

/**
 * Connect per the topology: a `Redis` (standalone or Sentinel) or a `Cluster`. The client never stays given up:
 * only `disconnect()` or `quit()` closes it for good (`reconnectWhenEnded`); `onRevive` is told each time it had to
 * be connected again (the store logs and counts it).
 */
export function createRedisClient(url: string, base: RedisOptions, onRevive: () => void = () => {}): Redis | Cluster {
  const topology = storeTopology(url, base);
  switch (topology.kind) {
    case 'standalone':
      return reconnectWhenEnded(new Redis(topology.url, topology.options), onRevive);
    case 'sentinel':
      return reconnectWhenEnded(new Redis(topology.options), onRevive);
    case 'cluster':
      return reconnectWhenEnded(new Cluster([...topology.nodes], topology.options), onRevive);
    default: {
      const never: never = topology;
      return never;
    }
  }
}
