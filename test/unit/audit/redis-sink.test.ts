import { createServer, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { auditState, createAuditLog, verifyChain } from '../../../gateway/audit/index.js';
import { deletePrefix } from '../../support/redis.js';
import { HMAC_KEY } from './helpers.js';
import { auditPrefix, failFastClient, redisEventStream } from './redis-stream.js';

const clients: Redis[] = [];
const prefixes: string[] = [];

afterEach(async () => {
  for (const prefix of prefixes.splice(0)) await deletePrefix(prefix);
  for (const client of clients.splice(0)) client.disconnect();
});

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the Redis sink going down makes the audit log unhealthy until a write succeeds again', () => {
  it('keeps the events queued, counts the failures and writes them all after recovery', async () => {
    const client = failFastClient();
    clients.push(client);
    await client.connect();
    const key = auditPrefix();
    prefixes.push(key);
    const errors: string[] = [];
    const log = createAuditLog({
      hmacKey: HMAC_KEY,
      sinks: ['redis'],
      events: redisEventStream(client, key),
      failMode: 'closed',
      retryInitialMs: 20,
      retryMaxMs: 50,
      onSinkError: (sink) => errors.push(sink),
    });
    log.record({ event: 'request', requestId: 'r-1' });
    await log.flush();
    expect(log.healthy).toBe(true);

    client.disconnect();
    await until(() => client.status === 'end');
    log.record({ event: 'request', requestId: 'r-2' });
    log.record({ event: 'request', requestId: 'r-3' });
    await log.flush();
    expect(log.healthy).toBe(false);
    expect(auditState(log)).toBe('unavailable');
    expect(errors[0]).toBe('redis');

    await client.connect();
    await until(() => log.healthy);
    expect(auditState(log)).toBe('ok');
    const stored = await redisEventStream(client, key).readAll();
    expect(stored.map((line) => JSON.parse(line).requestId)).toEqual(['r-1', 'r-2', 'r-3']);
    expect(verifyChain(stored)).toMatchObject({ ok: true, outcome: 'ok', events: 3, writers: 1, findings: [] });
    await log.close();
  });
});

describe('a Redis sink whose writes hang counts as down after the write timeout', () => {
  it('turns unhealthy against a server that accepts connections and never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });
    clients.push(client);
    const log = createAuditLog({
      hmacKey: HMAC_KEY,
      sinks: ['redis'],
      events: redisEventStream(client, auditPrefix()),
      failMode: 'open',
      writeTimeoutMs: 100,
    });
    log.record({ event: 'request', requestId: 'r-1' });
    await log.flush();
    expect(log.healthy).toBe(false);
    expect(auditState(log)).toBe('degraded');
    await log.close();
    client.disconnect();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
});
