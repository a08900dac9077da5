import { mkdir, rm, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog, verifyChain } from '../../gateway/audit/index.js';
import { HMAC_KEY, readLines, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

describe('record() returns before anything is written', () => {
  it('writes in a later batch, all events in order', async () => {
    const path = `${dir}/audit.jsonl`;
    const log = createAuditLog({ hmacKey: HMAC_KEY, sinks: [`file:${path}`], failMode: 'closed' });
    for (let i = 0; i < 1000; i++) log.record({ event: 'request', requestId: `r-${i}` });
    await expect(readLines(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await log.close();
    const lines = await readLines(path);
    expect(lines.map((line) => JSON.parse(line).seq)).toEqual([...Array(1000).keys()]);
    expect(verifyChain(lines).ok).toBe(true);
  });
});

describe('a failing sink keeps a bounded queue, drops the oldest visibly, and recovers', () => {
  it('counts failures and drops, and the gap shows in verify', async () => {
    const blocker = `${dir}/blocked`;
    await writeFile(blocker, 'a file where the audit directory should be');
    const path = `${blocker}/audit.jsonl`;
    const errors: string[] = [];
    const drops: number[] = [];
    const log = createAuditLog({
      hmacKey: HMAC_KEY,
      sinks: [`file:${path}`],
      failMode: 'closed',
      maxQueue: 5,
      retryInitialMs: 10,
      retryMaxMs: 20,
      onSinkError: (sink) => errors.push(sink),
      onDrop: (_sink, count) => drops.push(count),
    });
    for (let i = 0; i < 8; i++) log.record({ event: 'request', requestId: `r-${i}` });
    await log.flush();
    expect(log.healthy).toBe(false);
    expect(errors[0]).toBe('file');
    expect(drops.reduce((sum, count) => sum + count, 0)).toBe(3);

    await rm(blocker);
    await mkdir(blocker);
    await log.flush();
    expect(log.healthy).toBe(true);
    await log.close();
    const lines = await readLines(path);
    expect(lines.map((line) => JSON.parse(line).requestId)).toEqual(['r-3', 'r-4', 'r-5', 'r-6', 'r-7']);
    expect(verifyChain(lines)).toMatchObject({ outcome: 'gap', findings: [{ kind: 'gap', fromSeq: 0, toSeq: 2 }] });
  });
});

describe('createAuditLog rejects bad options at once', () => {
  it('refuses an unknown sink, redis without a stream, none with others, and a short key', () => {
    const base = { hmacKey: HMAC_KEY, failMode: 'closed' as const };
    expect(() => createAuditLog({ ...base, sinks: ['syslog'] })).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
    expect(() => createAuditLog({ ...base, sinks: ['redis'] })).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
    expect(() => createAuditLog({ ...base, sinks: ['none', 'stdout'] })).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
    expect(() => createAuditLog({ ...base, hmacKey: 'short', sinks: ['none'] })).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
    expect(createAuditLog({ ...base, sinks: ['none'] }).healthy).toBe(true);
  });
});
