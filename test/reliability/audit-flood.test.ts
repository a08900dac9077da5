import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyLayout } from '../../gateway/store/keys.js';
import { createRedisEventStream } from '../../gateway/store/redis-audit.js';
import { escrowCli } from '../audit/support/trail.js';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { deletePrefix, REDIS_URL } from '../support/redis.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { burst } from './support/load.js';

const KEY = 'canary-flood-key-0c4e7b19a2';
const FLOOD = 3_000;
const PROBES = 300;
/** A stream this small would have been emptied of evidence many times over by the old per-request events. */
const MAX_LEN = 300;

type Event = Record<string, unknown> & { event: string };

/**
 * Issue #20, fault 3: an unauthenticated flood (and an agent hammering a task it does not have) must not flush
 * evidence out of the stream. Repeated identical denials are recorded once per window and counted, so the flood
 * costs the trail a handful of events, the lease evidence stays, and answers keep flowing.
 */
describe('an unauthenticated flood leaves the evidence in the stream, costs it a bounded number of events', () => {
  let upstream: TestUpstream;
  let escrow: EscrowProcess;
  let events: Event[];
  let taskId: string;
  let afterFlood: number;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrowProcess({
      store: REDIS_URL,
      // No `sinks`: with a Redis store the stream is on by default (plus stdout).
      config: { audit: { streamMaxLen: MAX_LEN } },
      env: { FLOOD_KEY: KEY },
      targets: [echoTarget(upstream.url, 'env:FLOOD_KEY')],
    });
    const token = await escrow.token();
    taskId = await escrow.openTask(token, ['echo'], 'evidence that must survive');
    const allowed = () =>
      fetch(`${escrow.url}/echo/ok`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': taskId } });
    expect((await allowed()).status).toBe(200);
    const bad = ['', 'Bearer not-a-token', 'Bearer eyJhbGciOiJub25lIn0.e30.'];
    await burst(FLOOD, 32, async (i) => {
      const headers: Record<string, string> = bad[i % 3] ? { authorization: bad[i % 3]! } : {};
      await (await fetch(`${escrow.url}/echo/x`, { headers })).arrayBuffer();
    });
    await burst(PROBES, 16, async () => {
      const headers = { authorization: `Bearer ${token}`, 'x-escrow-task': 'tsk_notmine0000000000000' };
      await (await fetch(`${escrow.url}/echo/admin`, { headers })).arrayBuffer();
    });
    const after = await allowed();
    afterFlood = after.status;
    await after.arrayBuffer();
    await escrow.stop(); // ends the aggregation window: the counts are written
    const client = new Redis(REDIS_URL);
    try {
      const stream = createRedisEventStream(client, { keys: keyLayout(escrow.prefix), retentionMs: 0, maxLen: 1e9 });
      events = (await stream.readAll()).map((line) => JSON.parse(line) as Event);
    } finally {
      client.disconnect();
    }
  }, 120_000);
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    if (escrow) await deletePrefix(escrow.prefix);
  });

  it('keeps the task opening, the lease issuance and every allowed request', () => {
    const ofTask = (e: Event) => (e.task as { id?: string } | undefined)?.id === taskId;
    expect(events.filter((e) => e.event === 'task.opened' && ofTask(e))).toHaveLength(1);
    expect(events.filter((e) => e.event === 'lease.issued' && ofTask(e))).toHaveLength(1);
    expect(events.filter((e) => e.event === 'request' && e.decision === 'allow')).toHaveLength(2);
    expect(afterFlood).toBe(200);
  });

  it('writes the flood as a few first occurrences plus counts that add up to every refused request', () => {
    const denials = events.filter((e) => e.event === 'request' && e.decision === 'deny');
    const counted = events
      .filter((e) => e.event === 'denials.aggregated' && e.of === 'request')
      .reduce((sum, e) => sum + Number(e.count), 0);
    expect(denials.length + counted).toBe(FLOOD + PROBES);
    expect(events.length).toBeLessThan(40);
    expect(events.length).toBeLessThan(MAX_LEN / 5);
    for (const aggregate of events.filter((e) => e.event === 'denials.aggregated')) {
      expect(aggregate).toMatchObject({ decision: 'deny', client: '127.0.0.1' });
      expect(Date.parse(String(aggregate.to))).toBeGreaterThanOrEqual(Date.parse(String(aggregate.from)));
    }
  });

  it('verifies OK, and trace reads the default stream sink and names it', async () => {
    const verify = await escrowCli(['audit', 'verify', '--config', escrow.configPath]);
    expect(verify.stdout).toMatch(/^OK: \d+ event\(s\) from 1 writer\(s\) in Redis stream escrowtest:\S+audit at /);
    expect(verify.code).toBe(0);
    const trace = await escrowCli(['audit', 'trace', '-', '--config', escrow.configPath], KEY);
    expect(trace.stdout).toMatch(/^Read \d+ event\(s\) from Redis stream escrowtest:\S+audit at \S+\./);
    expect(trace.stdout).toContain('1 lease(s)');
    expect(trace.stdout).toContain('"evidence that must survive"');
    expect(trace.code).toBe(0);
  });

  it('never writes the secret or a token into the trail', () => {
    const text = JSON.stringify(events);
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('eyJhbGciOiJub25lIn0');
  });
});
