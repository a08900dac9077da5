import { appendFile, readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog, verifyChain } from '../../../gateway/audit/index.js';
import { createSealer } from '../../../gateway/audit/seal.js';
import { HMAC_KEY, readLines, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

describe('a file left with a partial last line (a writer killed mid-write) is continued on a line of its own', () => {
  it('ends the torn line before appending, so every new event parses and verify says OK', async () => {
    const path = `${dir}/audit.jsonl`;
    const dead = createSealer({ writerId: 'dead', onRefusedField: () => {} });
    const old = [0, 1, 2].map((i) => dead.seal({ event: 'request', requestId: `old-${i}` }, 1_700_000_000_000 + i));
    await appendFile(path, `${old[0]}\n${old[1]}\n${old[2]!.slice(0, 80)}`);
    const log = createAuditLog({ hmacKey: HMAC_KEY, sinks: [`file:${path}`], failMode: 'closed', writerId: 'next' });
    for (let i = 0; i < 3; i++) await log.commit({ event: 'request', requestId: `new-${i}` });
    await log.close();
    const lines = await readLines(path);
    expect(lines.slice(0, 3)).toEqual([old[0], old[1], old[2]!.slice(0, 80)]);
    expect(lines.slice(3).map((line) => JSON.parse(line).requestId)).toEqual(['new-0', 'new-1', 'new-2']);
    const report = verifyChain(lines);
    expect(report).toMatchObject({ ok: true, outcome: 'ok', findings: [{ kind: 'torn', index: 2 }] });
  });

  it('adds nothing to a file that ends cleanly', async () => {
    const path = `${dir}/audit.jsonl`;
    for (const writerId of ['first', 'second']) {
      const log = createAuditLog({ hmacKey: HMAC_KEY, sinks: [`file:${path}`], failMode: 'closed', writerId });
      await log.commit({ event: 'request', requestId: writerId });
      await log.close();
    }
    expect(await readFile(path, 'utf8')).toMatch(/^\{[^\n]*"first"[^\n]*\}\n\{[^\n]*"second"[^\n]*\}\n$/);
  });
});

describe('several processes may append to one file (--workers): whole batches, each writer in order', () => {
  it('interleaves two writers without a broken line, with fdatasync per batch', async () => {
    const path = `${dir}/audit.jsonl`;
    const logs = ['w1', 'w2'].map((writerId) =>
      createAuditLog({ hmacKey: HMAC_KEY, sinks: [`file:${path}`], failMode: 'closed', writerId, fileSync: 'batch' }),
    );
    await Promise.all(
      logs.map(async (log, n) => {
        for (let batch = 0; batch < 20; batch++) {
          await Promise.all(
            Array.from({ length: 10 }, (_, i) => log.commit({ event: 'request', requestId: `${n}-${batch}-${i}` })),
          );
        }
      }),
    );
    await Promise.all(logs.map((log) => log.close()));
    const lines = await readLines(path);
    expect(lines).toHaveLength(400);
    expect(verifyChain(lines)).toMatchObject({ ok: true, outcome: 'ok', writers: 2, findings: [] });
  });
});
