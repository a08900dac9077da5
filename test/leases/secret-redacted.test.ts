import { Writable } from 'node:stream';
import { format, inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EscrowError } from '../../gateway/errors.js';
import { leaseJson, parseLease } from '../../gateway/leases/record.js';
import { createLogger } from '../../gateway/log.js';
import { Secret } from '../../gateway/secret.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

const CANARY = 'canary-lease-secret-7c3e91d05b2a';

/** Every way a value ends up as text by accident: a log line, JSON, inspect/console, a message, an error. */
function renderings(value: unknown): string {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  // Under a field name the logger's redaction does not know: only the wrapper protects it.
  createLogger({ destination: sink, level: 'info' }).info({ lease: value }, 'lease');
  const error = new EscrowError('internal', `lease: ${value}`, { cause: value });
  return [
    ...lines,
    JSON.stringify(value),
    JSON.stringify({ value }),
    inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
    format('%s %o %j', value, value, value),
    `${value}`,
    inspect(error, { depth: Number.POSITIVE_INFINITY }),
    JSON.stringify(error),
  ].join('\n');
}

describe('a lease and the config print <redacted> where the credential would be, everywhere', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let task: string;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({ env: { LEASE_KEY: CANARY }, targets: [echoTarget(upstream.url, 'env:LEASE_KEY')] });
    const token = await escrow.token();
    task = await escrow.openTask(token, ['echo']);
    const res = await fetch(`${escrow.url}/echo/x`, {
      headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('injects the real value upstream (the wrapper is revealed there and only there)', () => {
    expect(upstream.requests.at(-1)?.headers['x-api-key']).toBe(CANARY);
  });

  it('the cached lease and its stored copy: log, JSON, inspect, format and error all show <redacted>', async () => {
    const cached = escrow.gw.leases.cache.get(`${task}:echo`);
    const [stored] = await escrow.gw.leases.list(task, ['echo']);
    for (const lease of [cached, stored]) {
      expect(lease?.credential.reveal().fields.secret).toBe(CANARY); // it is the real lease
      expect(renderings(lease?.credential.reveal())).toContain(CANARY); // and unwrapped, these would leak it
      const text = renderings(lease);
      expect(text).not.toContain(CANARY);
      expect(text).toContain('<redacted>');
      expect(renderings(lease?.credential)).not.toContain(CANARY);
    }
  });

  it('the loaded config holds the reference, never the value', () => {
    const text = renderings(escrow.gw.config);
    expect(text).toContain('env:LEASE_KEY');
    expect(text).not.toContain(CANARY);
  });

  it('the envelope plaintext is the one serialisation with the value, and reads back wrapped', () => {
    const lease = escrow.gw.leases.cache.get(`${task}:echo`)!;
    const json = leaseJson(lease);
    expect(json).toContain(CANARY);
    const back = parseLease(json);
    expect(back.credential).toBeInstanceOf(Secret);
    expect(back.credential.reveal()).toEqual(lease.credential.reveal());
    expect(JSON.stringify(back)).not.toContain(CANARY);
  });
});
