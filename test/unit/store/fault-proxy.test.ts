import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeClientOptions } from '../../../gateway/store/redis.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../../support/redis.js';
import { type RespProxy, startRespProxy } from '../../support/resp-proxy.js';

/** The fault-injecting proxy the close tests rely on does to commands exactly what it is told, and nothing else. */
describe('the RESP fault proxy delays, holds and drops chosen commands and replies of a real Redis', () => {
  const prefix = testPrefix('fault-proxy');
  let proxy: RespProxy;
  let direct: Redis;
  const clients: Redis[] = [];
  const client = async (timeoutMs = 300) => {
    const c = new Redis(proxy.url, storeClientOptions(timeoutMs));
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    proxy = await startRespProxy();
    direct = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    direct?.disconnect();
    await proxy?.close();
    await deletePrefix(prefix);
  });

  it('passes commands and pipelined replies through untouched', async () => {
    const c = await client();
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => c.set(`${prefix}k${i}`, `v${i}`)));
    expect(answers).toEqual(Array(50).fill('OK'));
    expect(await c.mget(`${prefix}k0`, `${prefix}k49`)).toEqual(['v0', 'v49']);
  });

  it('delays a command past the client timeout: the client gives up, Redis still runs it later', async () => {
    const c = await client(200);
    const fault = proxy.inject({
      action: 'delay',
      command: 'SET',
      match: (a) => a[1] === `${prefix}late`,
      delayMs: 600,
    });
    await expect(c.set(`${prefix}late`, 'ran')).rejects.toThrow(/timed out/i);
    expect(await direct.get(`${prefix}late`)).toBeNull();
    await fault.done;
    await expect.poll(() => direct.get(`${prefix}late`)).toBe('ran');
  });

  it('drops a reply after Redis ran the command and cuts the connection: ioredis sends the command again', async () => {
    const c = await client(1_000);
    const fault = proxy.inject({ action: 'drop-reply', command: 'INCR', match: (a) => a[1] === `${prefix}ran` });
    // ioredis re-sends a command whose connection died once it has reconnected: it runs twice. Every store write
    // must be idempotent for this reason alone.
    const outcome = await c.incr(`${prefix}ran`).then(String, () => 'failed');
    await fault.done;
    expect(outcome).toBe('2');
    expect(await direct.get(`${prefix}ran`)).toBe('2');
  });

  it('drops a command before Redis sees it and cuts the connection', async () => {
    const c = await client(150);
    const fault = proxy.inject({ action: 'drop', command: 'INCR', match: (a) => a[1] === `${prefix}lost` });
    const outcome = await c.incr(`${prefix}lost`).then(String, () => 'failed');
    await fault.done;
    // Lost with its connection; ioredis may send it again after reconnecting, if it has not timed out by then.
    expect(['failed', '1']).toContain(outcome);
    expect(fault.hits).toBe(1);
  });

  it('holds a command (and those after it on its connection) until released', async () => {
    const c = await client(5_000);
    const fault = proxy.inject({ action: 'hold', command: 'INCR', match: (a) => a[1] === `${prefix}held` });
    const first = c.incr(`${prefix}held`);
    const second = c.get(`${prefix}held`);
    await expect.poll(() => fault.hits).toBe(1);
    expect(await direct.get(`${prefix}held`)).toBeNull();
    fault.release();
    expect(await first).toBe(1);
    expect(await second).toBe('1');
  });
});
