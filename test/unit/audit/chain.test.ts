import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog, verifyChain } from '../../../gateway/audit/index.js';
import { HMAC_KEY, readLines, steppingClock, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

/** Ten request events from each of two writers, interleaved in one file as two replicas would write them. */
async function twoWriterTrail(): Promise<string[]> {
  const path = `${dir}/audit.jsonl`;
  const now = steppingClock();
  const logs = ['replica-a', 'replica-b'].map((writerId) =>
    createAuditLog({ hmacKey: HMAC_KEY, sinks: [`file:${path}`], failMode: 'closed', writerId, now }),
  );
  for (let i = 0; i < 10; i++) {
    for (const log of logs) {
      log.record({ event: 'request', requestId: `r-${i}`, decision: 'allow', target: 'echo', status: 200 });
      await log.flush();
    }
  }
  await Promise.all(logs.map((log) => log.close()));
  return readLines(path);
}

function indexOf(lines: readonly string[], writer: string, seq: number): number {
  return lines.findIndex((line) => line.includes(`"writer":"${writer}"`) && line.includes(`"seq":${seq},`));
}

describe('the hash chain of an untouched trail verifies', () => {
  it('accepts two interleaved writers', async () => {
    const lines = await twoWriterTrail();
    expect(verifyChain(lines)).toEqual({ ok: true, outcome: 'ok', events: 20, writers: 2, findings: [] });
  });

  it('accepts an exact duplicate (a retried write)', async () => {
    const lines = await twoWriterTrail();
    const copy = [...lines];
    copy.splice(5, 0, lines[4] as string);
    expect(verifyChain(copy).ok).toBe(true);
  });
});

describe('hash-chain verification detects an edited event', () => {
  it('finds a field changed in place', async () => {
    const lines = await twoWriterTrail();
    const at = indexOf(lines, 'replica-b', 4);
    lines[at] = (lines[at] as string).replace('"decision":"allow"', '"decision":"deny"');
    expect(verifyChain(lines)).toMatchObject({
      outcome: 'edited',
      findings: [{ kind: 'edited', index: at, writer: 'replica-b', seq: 4 }],
    });
  });

  it('finds an event rewritten with a recomputed hash, at the rewritten event', async () => {
    const { eventHash } = await import('../../../gateway/audit/canonical.js');
    const lines = await twoWriterTrail();
    const at = indexOf(lines, 'replica-a', 3);
    const event = JSON.parse(lines[at] as string);
    event.status = 500;
    event.hash = eventHash(event);
    lines[at] = JSON.stringify(event);
    expect(verifyChain(lines)).toMatchObject({
      outcome: 'edited',
      findings: [{ kind: 'edited', index: at, writer: 'replica-a', seq: 3 }],
    });
  });
});

describe('hash-chain verification detects a deleted event', () => {
  it('reports the first missing sequence number', async () => {
    const lines = await twoWriterTrail();
    const at = indexOf(lines, 'replica-a', 6);
    lines.splice(at, 1);
    const report = verifyChain(lines);
    expect(report.ok).toBe(false);
    expect(report).toMatchObject({
      outcome: 'gap',
      findings: [{ kind: 'gap', writer: 'replica-a', fromSeq: 6, toSeq: 6 }],
    });
  });

  it('reports a deleted head as a gap: only the retention record of a stream shows a trimmed head', async () => {
    const lines = await twoWriterTrail();
    lines.splice(indexOf(lines, 'replica-b', 0), 1);
    lines.splice(indexOf(lines, 'replica-b', 1), 1);
    expect(verifyChain(lines)).toMatchObject({
      outcome: 'gap',
      findings: [{ kind: 'gap', writer: 'replica-b', fromSeq: 0, toSeq: 1 }],
    });
  });
});

describe('hash-chain verification detects a reordered event', () => {
  it('finds two events of one writer swapped', async () => {
    const lines = await twoWriterTrail();
    const first = indexOf(lines, 'replica-a', 2);
    const second = indexOf(lines, 'replica-a', 5);
    [lines[first], lines[second]] = [lines[second] as string, lines[first] as string];
    expect(verifyChain(lines)).toMatchObject({ outcome: 'reordered' });
    expect(verifyChain(lines).findings[0]).toEqual({ kind: 'reordered', index: first, writer: 'replica-a', seq: 5 });
  });
});

describe('hash-chain verification reports a line that is not an audit event as malformed', () => {
  it('names the line', async () => {
    const lines = await twoWriterTrail();
    lines.splice(7, 0, '{"level":30,"msg":"not audit"}');
    expect(verifyChain(lines)).toMatchObject({ outcome: 'malformed', findings: [{ kind: 'malformed', index: 7 }] });
  });
});
