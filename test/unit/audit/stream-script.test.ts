import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditVerify } from '../../../gateway/audit/index.js';
import { createSealer } from '../../../gateway/audit/seal.js';
import type { EventStream } from '../../../gateway/store/types.js';
import { type OwnRedis, startOwnRedis } from '../../reliability/support/redis-server.js';
import { deletePrefix, REDIS_URL } from '../../support/redis.js';
import { auditPrefix, redisEventStream } from './redis-stream.js';

/** `count` sealed lines of one writer, from seq `from`, each about `pad` bytes long. */
function chain(writer: string, count: number, pad = 0): string[] {
  const sealer = createSealer({ writerId: writer, onRefusedField: () => {} });
  return Array.from({ length: count }, (_, seq) =>
    sealer.seal({ event: 'request', requestId: `r-${seq}`, filler: 'x'.repeat(pad) }, 1_700_000_000_000 + seq),
  );
}

async function verifyStream(events: EventStream) {
  const contents = await events.read();
  return auditVerify({
    input: contents.entries,
    json: false,
    retention: {
      ...(contents.trimmedBefore ? { trimmedBefore: contents.trimmedBefore } : {}),
      trimmed: contents.trimmed,
      origins: contents.origins,
    },
  });
}

describe('one audit batch is one atomic, ordered, idempotent step in Redis', () => {
  const clients: Redis[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    for (const prefix of prefixes.splice(0)) await deletePrefix(prefix);
  });
  const fresh = () => {
    const client = new Redis(REDIS_URL);
    const prefix = auditPrefix();
    clients.push(client);
    prefixes.push(prefix);
    return { client, prefix, events: redisEventStream(client, prefix) };
  };

  it('skips the seqs of a batch sent again, and writes only the lines that are new', async () => {
    const { events } = fresh();
    const lines = chain('w', 6);
    await events.append({ writer: 'w', firstSeq: 0, lines: lines.slice(0, 4) });
    await events.append({ writer: 'w', firstSeq: 0, lines: lines.slice(0, 4) });
    await events.append({ writer: 'w', firstSeq: 2, lines: lines.slice(2, 6) });
    expect(await events.readAll()).toEqual(lines);
    expect((await verifyStream(events)).outcome).toBe('ok');
  });

  it('keeps each writer in seq order when two writers interleave batches', async () => {
    const { events } = fresh();
    const [a, b] = [chain('a', 4), chain('b', 4)];
    await events.append({ writer: 'a', firstSeq: 0, lines: a.slice(0, 2) });
    await events.append({ writer: 'b', firstSeq: 0, lines: b.slice(0, 3) });
    await events.append({ writer: 'a', firstSeq: 0, lines: a }); // a retry that also carries new lines
    await events.append({ writer: 'b', firstSeq: 3, lines: b.slice(3) });
    const stored = await events.readAll();
    expect(stored.filter((line) => line.includes('"writer":"a"'))).toEqual(a);
    expect(stored.filter((line) => line.includes('"writer":"b"'))).toEqual(b);
    expect((await verifyStream(events)).outcome).toBe('ok');
  });

  it('refuses a batch that would pass the size bound, evicting nothing', async () => {
    const { client, prefix } = fresh();
    const events = redisEventStream(client, prefix, { maxLen: 5 });
    const lines = chain('w', 8);
    await events.append({ writer: 'w', firstSeq: 0, lines: lines.slice(0, 4) });
    await expect(events.append({ writer: 'w', firstSeq: 4, lines: lines.slice(4) })).rejects.toThrow(/ESCROWFULL/);
    expect(await events.readAll()).toEqual(lines.slice(0, 4));
  });
});

describe('a batch whose reply was lost to a timeout, and that ran anyway, is not written twice', () => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await startOwnRedis();
  });
  afterAll(() => redis?.close());

  it('retries after the timed-out script ran: one copy of each line, in order', async () => {
    const client = new Redis({ port: redis.port, host: '127.0.0.1', commandTimeout: 200, maxRetriesPerRequest: 0 });
    try {
      const events = redisEventStream(client, 'timeout:');
      const lines = chain('w', 10);
      await events.append({ writer: 'w', firstSeq: 0, lines: lines.slice(0, 5) });
      redis.freeze();
      // The command sits in the frozen server's socket: the client gives up, the server runs it once thawed.
      await expect(events.append({ writer: 'w', firstSeq: 5, lines: lines.slice(5) })).rejects.toThrow(/timed out/i);
      redis.thaw();
      await events.append({ writer: 'w', firstSeq: 5, lines: lines.slice(5) });
      expect(await events.readAll()).toEqual(lines);
      expect((await verifyStream(events)).outcome).toBe('ok');
    } finally {
      redis.thaw();
      client.disconnect();
    }
  });
});

describe('under maxmemory a batch is written whole or not at all, and a retry after space returns completes it', () => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await startOwnRedis(['--maxmemory', '3mb', '--maxmemory-policy', 'noeviction']);
  });
  afterAll(() => redis?.close());

  it('leaves only whole batches, in order, and verify says ok after the retry', async () => {
    const client = new Redis({ port: redis.port, host: '127.0.0.1' });
    try {
      // With retention on, as in production: a trim is a write, and a write before the first XADD would let the
      // batch past the maxmemory check.
      const events = redisEventStream(client, 'oom:', { retentionMs: 3_600_000 });
      const lines = chain('w', 4000, 400);
      const batch = 100;
      let written = 0;
      let refused: Error | undefined;
      while (written < lines.length && !refused) {
        try {
          await events.append({ writer: 'w', firstSeq: written, lines: lines.slice(written, written + batch) });
          written += batch;
        } catch (error) {
          refused = error as Error;
        }
      }
      expect(refused?.message).toMatch(/OOM/);
      expect(await events.readAll()).toEqual(lines.slice(0, written));
      await client.config('SET', 'maxmemory', '0');
      await events.append({ writer: 'w', firstSeq: written, lines: lines.slice(written, written + batch) });
      expect(await events.readAll()).toEqual(lines.slice(0, written + batch));
      expect((await verifyStream(events)).outcome).toBe('ok');
    } finally {
      client.disconnect();
    }
  });
});

describe('the stream tells a head trimmed by retention from a head lost in a Redis restart', () => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await startOwnRedis();
  });
  afterAll(() => redis?.close());

  /** Redis' own clock (stream ids and retention follow it, not this process's). */
  async function redisNow(client: Redis): Promise<number> {
    const [seconds, micros] = await client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  it('reports "trimmed" with the count and seq for a writer whose oldest events retention removed', async () => {
    const client = new Redis({ port: redis.port, host: '127.0.0.1' });
    try {
      const events = redisEventStream(client, 'retention:', { retentionMs: 50 });
      const lines = chain('w', 150);
      await events.append({ writer: 'w', firstSeq: 0, lines: lines.slice(0, 120) });
      // Wait on Redis' clock (an event, not a sleep): the first batch becomes older than the 50 ms retention.
      const written = await redisNow(client);
      await expect.poll(() => redisNow(client), { interval: 5 }).toBeGreaterThan(written + 100);
      await events.append({ writer: 'w', firstSeq: 120, lines: lines.slice(120) });
      const result = await verifyStream(events);
      const trimmed = (await events.read()).entries[0]?.line ?? '';
      const first = JSON.parse(trimmed).seq as number;
      expect(first).toBeGreaterThan(0);
      expect(result).toMatchObject({ outcome: 'trimmed', ok: true, exitCode: 3 });
      expect(result.output).toContain(
        `writer w: trimmed head, ${first} event(s) before seq ${first} removed by retention`,
      );
    } finally {
      client.disconnect();
    }
  });

  it('reports a gap from seq 0 for a writer that goes on writing after Redis lost everything', async () => {
    const client = new Redis({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    try {
      const events = redisEventStream(client, 'restart:', { retentionMs: 3_600_000 });
      const lines = chain('w', 20);
      await events.append({ writer: 'w', firstSeq: 0, lines: lines.slice(0, 10) });
      await redis.kill();
      await redis.start();
      await expect.poll(() => client.status, { timeout: 10_000 }).toBe('ready');
      await events.append({ writer: 'w', firstSeq: 10, lines: lines.slice(10) });
      const result = await verifyStream(events);
      expect(result).toMatchObject({ outcome: 'gap', ok: false, exitCode: 4 });
      expect(result.output).toContain('writer w: gap from seq 0 to 9 (10 event(s))');
    } finally {
      client.disconnect();
    }
  });
});
