import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog, verifyChain } from '../../../gateway/audit/index.js';
import type { AuditEventInput } from '../../../gateway/audit/types.js';
import { HMAC_KEY, readLines, steppingClock, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const unauthenticated = (client: string, reason = 'token_missing'): AuditEventInput => ({
  event: 'request',
  requestId: `r-${Math.random()}`,
  decision: 'deny',
  target: 'echo',
  method: 'GET',
  path: '/x',
  status: 401,
  reason,
  client,
});

function log(maxKeys = 100) {
  const path = `${dir}/audit.jsonl`;
  const audit = createAuditLog({
    hmacKey: HMAC_KEY,
    sinks: [`file:${path}`],
    failMode: 'closed',
    now: steppingClock(),
    noise: { intervalMs: 3_600_000, maxKeys },
  });
  const events = async () => (await readLines(path)).map((line) => JSON.parse(line) as Record<string, unknown>);
  return { audit, events, path };
}

describe('repeated identical denials are recorded once per window, then counted', () => {
  it('writes the first in full and one aggregate with the count, the first and the last time', async () => {
    const { audit, events, path } = log();
    for (let i = 0; i < 1_000; i++) audit.record(unauthenticated('203.0.113.9'));
    await audit.close();
    const written = await events();
    expect(written).toHaveLength(2);
    expect(written[0]).toMatchObject({ event: 'request', status: 401, client: '203.0.113.9' });
    expect(written[1]).toMatchObject({
      event: 'denials.aggregated',
      of: 'request',
      decision: 'deny',
      reason: 'token_missing',
      client: '203.0.113.9',
      target: 'echo',
      path: '/x',
      count: 999,
    });
    // `from` is when the first of the kind was seen, `to` the last repeat (the clock steps 1 s per reading).
    expect(Date.parse(String(written[1]?.from))).toBeLessThanOrEqual(Date.parse(String(written[0]?.time)));
    expect(Date.parse(String(written[1]?.to)) - Date.parse(String(written[1]?.from))).toBeGreaterThanOrEqual(999_000);
    expect(verifyChain(await readLines(path)).outcome).toBe('ok');
  });

  it('keeps sources, reasons and principals apart', async () => {
    const { audit, events } = log();
    for (let i = 0; i < 10; i++) {
      audit.record(unauthenticated('203.0.113.1'));
      audit.record(unauthenticated('203.0.113.2'));
      audit.record(unauthenticated('203.0.113.1', 'token_expired'));
    }
    await audit.close();
    const aggregates = (await events()).filter((e) => e.event === 'denials.aggregated');
    expect(aggregates.map((e) => [e.client, e.reason, e.count])).toEqual([
      ['203.0.113.1', 'token_missing', 9],
      ['203.0.113.2', 'token_missing', 9],
      ['203.0.113.1', 'token_expired', 9],
    ]);
  });

  it('past maxKeys kinds in a window, counts the rest per reason only: the trail stays bounded', async () => {
    const { audit, events } = log(5);
    // A botnet: every request from another address.
    for (let i = 0; i < 500; i++) audit.record(unauthenticated(`198.51.100.${i % 250}`, 'token_malformed'));
    await audit.close();
    const written = await events();
    const individual = written.filter((e) => e.event === 'request');
    const aggregates = written.filter((e) => e.event === 'denials.aggregated');
    expect(individual).toHaveLength(5);
    const total = individual.length + aggregates.reduce((sum, e) => sum + Number(e.count), 0);
    expect(total).toBe(500);
    expect(written.length).toBeLessThanOrEqual(2 * 5 + 1);
    expect(aggregates.find((e) => e.overflow === true)).toMatchObject({ reason: 'token_malformed', count: 490 });
  });

  it('never aggregates evidence: allows, lease events and denials that used a lease are all written', async () => {
    const { audit, events } = log();
    for (let i = 0; i < 5; i++) {
      audit.record({ event: 'request', decision: 'allow', status: 200, target: 'echo', client: 'a' });
      audit.record({ event: 'lease.issued', leaseId: 'l', target: 'echo' });
      audit.record({ event: 'request', decision: 'deny', status: 502, leaseId: 'l', client: 'a' });
    }
    await audit.close();
    expect(await events()).toHaveLength(15);
  });

  it('a committed repeat resolves at once (its answer is not held for the window)', async () => {
    const { audit } = log();
    await audit.commit(unauthenticated('203.0.113.7'));
    let resolved = false;
    const repeat = audit.commit(unauthenticated('203.0.113.7')).then(() => {
      resolved = true;
    });
    await Promise.resolve();
    expect(resolved).toBe(true);
    await repeat;
    await audit.close();
  });
});
