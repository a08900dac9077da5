import { mkdir, rm, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog, verifyChain } from '../../../gateway/audit/index.js';
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

/** A sink under the test's control: each write waits for the test to settle it. */
function controlledSink() {
  const calls: { lines: readonly string[]; firstSeq: number; settle: (error?: Error) => void }[] = [];
  const sink = {
    name: 'file' as const,
    write: (lines: readonly string[], firstSeq: number) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ lines, firstSeq, settle: (error) => (error ? reject(error) : resolve()) });
      }),
  };
  return { sink, calls };
}

const queueOptions = {
  maxQueue: 100,
  batchSize: 10,
  retryInitialMs: 1,
  retryMaxMs: 1,
  writeTimeoutMs: 60_000,
  onError: () => {},
  onDrop: () => {},
};

describe('a sink queue writes consecutive runs of seqs, one write at a time', () => {
  it('sends a failed batch again with the same first seq, and what was queued meanwhile after it', async () => {
    const { createSinkQueue } = await import('../../../gateway/audit/queue.js');
    const { sink, calls } = controlledSink();
    const queue = createSinkQueue(sink, queueOptions);
    queue.push(['a', 'b']);
    await expect.poll(() => calls.length).toBe(1);
    queue.push(['c']);
    calls[0]!.settle(new Error('ENOSPC'));
    await expect.poll(() => calls.length).toBe(2);
    expect(calls.map((call) => [call.firstSeq, call.lines])).toEqual([
      [0, ['a', 'b']],
      [0, ['a', 'b', 'c']],
    ]);
    calls[1]!.settle();
    await queue.flush();
    expect(queue.healthy).toBe(true);
    queue.close();
  });

  it('waits for a write that outlived its timeout before the next one (a late success cannot land after a retry)', async () => {
    const { createSinkQueue } = await import('../../../gateway/audit/queue.js');
    const { sink, calls } = controlledSink();
    const errors: string[] = [];
    const queue = createSinkQueue(sink, {
      ...queueOptions,
      writeTimeoutMs: 5,
      onError: (_name, error) => errors.push(error.message),
    });
    queue.push(['a']);
    await expect.poll(() => queue.healthy).toBe(false);
    expect(errors).toEqual(['audit sink write timed out']);
    queue.push(['b']);
    await queue.flush(); // returns on the stall, without starting a second write
    expect(calls).toHaveLength(1);
    calls[0]!.settle();
    await expect.poll(() => calls.length).toBe(2);
    expect([calls[1]!.firstSeq, calls[1]!.lines]).toEqual([1, ['b']]);
    calls[1]!.settle();
    await expect.poll(() => queue.healthy).toBe(true);
    queue.close();
  });

  it('drops the oldest when full, including a batch that failed while newer lines were dropped', async () => {
    const { createSinkQueue } = await import('../../../gateway/audit/queue.js');
    const { sink, calls } = controlledSink();
    const drops: number[] = [];
    const failed: (Error | undefined)[] = [];
    const queue = createSinkQueue(sink, { ...queueOptions, maxQueue: 10, onDrop: (_n, count) => drops.push(count) });
    queue.push(['0', '1', '2', '3', '4'], (error) => failed.push(error));
    await expect.poll(() => calls.length).toBe(1);
    // Ten more while the first five are in flight: the five oldest waiting ones are dropped.
    queue.push(['5', '6', '7', '8', '9', '10', '11', '12', '13', '14']);
    calls[0]!.settle(new Error('down'));
    await expect.poll(() => calls.length).toBe(2);
    // The failed batch is older than what was dropped: it goes too, and the rest is one run from seq 10.
    expect([calls[1]!.firstSeq, calls[1]!.lines]).toEqual([10, ['10', '11', '12', '13', '14']]);
    expect(drops.reduce((sum, n) => sum + n, 0)).toBe(10);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.message).toMatch(/dropped/);
    calls[1]!.settle();
    await queue.flush();
    queue.close();
  });
});
