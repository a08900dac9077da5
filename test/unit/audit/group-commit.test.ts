import { writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../../gateway/audit/index.js';
import { HMAC_KEY, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

describe('group commit: commit() settles with the write of its group', () => {
  it('rejects with audit_unavailable under failMode closed when the sink keeps failing, resolves under open', async () => {
    const blocker = `${dir}/not-a-dir`;
    await writeFile(blocker, 'x');
    for (const failMode of ['closed', 'open'] as const) {
      const log = createAuditLog({
        hmacKey: HMAC_KEY,
        sinks: [`file:${blocker}/audit.jsonl`],
        failMode,
        retryInitialMs: 5,
        retryMaxMs: 5,
        commitTimeoutMs: 50, // retries within this window could still have written it
      });
      const committed = log.commit({ event: 'request', requestId: 'r' });
      if (failMode === 'closed') await expect(committed).rejects.toMatchObject({ code: 'audit_unavailable' });
      else await expect(committed).resolves.toBeUndefined();
      expect(log.healthy).toBe(false);
      await log.close();
    }
  });

  it('rejects at the commit timeout when the sink never answers (a Redis that accepts and stays silent)', async () => {
    const { createServer } = await import('node:net');
    const { Redis } = await import('ioredis');
    const { redisEventStream } = await import('./redis-stream.js');
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const client = new Redis({ host: '127.0.0.1', port: (silent.address() as { port: number }).port });
    const log = createAuditLog({
      hmacKey: HMAC_KEY,
      sinks: ['redis'],
      events: redisEventStream(client, 'silent:'),
      failMode: 'closed',
      commitTimeoutMs: 50,
      writeTimeoutMs: 50,
    });
    await expect(log.commit({ event: 'request', requestId: 'r' })).rejects.toMatchObject({
      code: 'audit_unavailable',
    });
    await expect.poll(() => log.healthy).toBe(false);
    await log.close();
    client.disconnect();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('shares one Redis step among the events of one turn of the event loop', async () => {
    const { Redis } = await import('ioredis');
    const { startOwnRedis } = await import('../../reliability/support/redis-server.js');
    const { redisEventStream } = await import('./redis-stream.js');
    const redis = await startOwnRedis();
    const client = new Redis({ host: '127.0.0.1', port: redis.port });
    try {
      const log = createAuditLog({
        hmacKey: HMAC_KEY,
        sinks: ['redis'],
        events: redisEventStream(client, 'group:'),
        failMode: 'closed',
      });
      await log.commit({ event: 'request', requestId: 'warm' }); // the script is loaded
      const scripts = async () => {
        const stats = await client.info('commandstats');
        return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      };
      const before = await scripts();
      await Promise.all(Array.from({ length: 50 }, (_, i) => log.commit({ event: 'request', requestId: `r-${i}` })));
      expect((await scripts()) - before).toBe(1);
      expect(await client.xlen('group:audit')).toBe(51);
      await log.close();
    } finally {
      client.disconnect();
      await redis.close();
    }
  });
});
