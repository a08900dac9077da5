import { describe, expect, it } from 'vitest';
import { EscrowError } from '../../../gateway/errors.js';
import { storeTopology } from '../../../gateway/store/topology.js';

const base = { commandTimeout: 300, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => 100 };

describe('the store URL names one server, a Sentinel-managed primary or a Cluster', () => {
  it('passes redis:// and rediss:// URLs to ioredis as they are', () => {
    expect(storeTopology('redis://:pw@10.0.0.1:6380/2', base)).toEqual({
      kind: 'standalone',
      url: 'redis://:pw@10.0.0.1:6380/2',
      options: base,
    });
    expect(storeTopology('rediss://redis.internal:6380/0', base).kind).toBe('standalone');
  });

  it('reads sentinels, the primary name, the database and the data nodes’ credentials', () => {
    const topology = storeTopology('redis+sentinel://app:s%40cret@s1:26379,[::1]:26380,s3/mymaster/3', base);
    expect(topology.kind).toBe('sentinel');
    if (topology.kind !== 'sentinel') return;
    expect(topology.options).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '::1', port: 26380 },
        { host: 's3', port: 26379 },
      ],
      name: 'mymaster',
      role: 'master',
      db: 3,
      username: 'app',
      password: 's@cret',
      commandTimeout: 300,
      enableOfflineQueue: false,
      failoverDetector: true,
    });
    expect(topology.options.tls).toBeUndefined();
  });

  it('uses TLS to sentinels and data nodes with rediss+sentinel://', () => {
    const topology = storeTopology('rediss+sentinel://s1:26379/primary', base);
    expect(topology.kind === 'sentinel' && topology.options).toMatchObject({
      tls: {},
      sentinelTLS: {},
      enableTLSForSentinelMode: true,
      db: 0,
    });
  });

  it('reads cluster seed nodes and keeps per-command timeouts on every node connection', () => {
    const topology = storeTopology('redis+cluster://:pw@n1:7000,n2:7001', base);
    expect(topology.kind).toBe('cluster');
    if (topology.kind !== 'cluster') return;
    expect(topology.nodes).toEqual([
      { host: 'n1', port: 7000 },
      { host: 'n2', port: 7001 },
    ]);
    expect(topology.options).toMatchObject({
      enableOfflineQueue: false,
      lazyConnect: true,
      redisOptions: { commandTimeout: 300, password: 'pw' },
    });
    expect(topology.options.redisOptions).not.toHaveProperty('retryStrategy');
    expect(topology.options.clusterRetryStrategy?.(1)).toBe(100);
  });

  it('refuses what it cannot honour, naming the store option', () => {
    for (const url of [
      'redis+cluster://n1:7000/2',
      'redis+sentinel://s1:26379',
      'redis+sentinel://s1:26379/m/0/extra',
      'redis+sentinel://s1:notaport/m',
      'memcached://x',
    ]) {
      expect(() => storeTopology(url, base), url).toThrow(EscrowError);
      try {
        storeTopology(url, base);
      } catch (error) {
        expect((error as EscrowError).code).toBe('config_invalid');
        expect((error as Error).message).toMatch(/^store: /);
      }
    }
  });
});
