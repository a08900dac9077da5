import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyLayout } from '../../gateway/store/keys.js';
import { createRedisEventStream } from '../../gateway/store/redis-audit.js';
import { escrowCli, loadUntil, requestIds } from '../audit/support/trail.js';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { deletePrefix, REDIS_URL } from '../support/redis.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

/**
 * Group commit, no loss window: an answer's last byte goes out only after its `request` event is written by every
 * sink. SIGKILL in the middle of a load then cannot lose the record of a request the agent got an answer to.
 */
describe('SIGKILL mid-load: every request the agent got a whole answer to is in the file and in the stream', () => {
  let upstream: TestUpstream;
  let escrow: EscrowProcess;
  let answered: { requestId: string; status: number }[];

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrowProcess({
      store: REDIS_URL,
      config: { audit: { sinks: ['file:audit.log', 'redis'] } },
      env: { KILL_KEY: 'canary-kill-key-5d0c71' },
      targets: [echoTarget(upstream.url, 'env:KILL_KEY')],
    });
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['echo']);
    const headers = { authorization: `Bearer ${token}`, 'x-escrow-task': task };
    const call = () => fetch(`${escrow.url}/echo/work`, { headers });
    const load = loadUntil(call, 16, escrow.exited, (_answer, count) => {
      if (count === 400) escrow.proc.kill('SIGKILL');
    });
    answered = (await load).answered.filter((answer) => answer.status === 200);
  }, 120_000);
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    if (escrow) await deletePrefix(escrow.prefix);
  });

  it('finds each answered request id in the file sink', () => {
    expect(answered.length).toBeGreaterThanOrEqual(400);
    const text = readFileSync(join(escrow.dir, 'audit.log'), 'utf8');
    const inFile = requestIds(text.split('\n'));
    expect(answered.filter((answer) => !inFile.has(answer.requestId))).toEqual([]);
  });

  it('finds each answered request id in the Redis stream', async () => {
    const client = new Redis(REDIS_URL);
    try {
      const stream = createRedisEventStream(client, { keys: keyLayout(escrow.prefix), retentionMs: 0, maxLen: 1e9 });
      const inStream = requestIds(await stream.readAll());
      expect(answered.filter((answer) => !inStream.has(answer.requestId))).toEqual([]);
    } finally {
      client.disconnect();
    }
  });

  it('leaves trails that verify: no gap, nothing reordered or malformed (a torn last line is not an event)', async () => {
    const file = await escrowCli(['audit', 'verify', '--file', join(escrow.dir, 'audit.log')]);
    expect(file.stdout).toMatch(/^OK: /);
    expect(file.code).toBe(0);
    const stream = await escrowCli(['audit', 'verify', '--config', escrow.configPath]);
    expect(stream.stdout).toMatch(/^OK: /);
    expect(stream.code).toBe(0);
  });
});
