import { describe, expect, it } from 'vitest';
import { auditVerify, VERIFY_EXIT, verifyChain } from '../../../gateway/audit/index.js';
import { createSealer } from '../../../gateway/audit/seal.js';
import type { TrailEntry } from '../../../gateway/audit/verify.js';

function chain(writer: string, count: number): string[] {
  const sealer = createSealer({ writerId: writer, onRefusedField: () => {} });
  return Array.from({ length: count }, (_, seq) =>
    sealer.seal({ event: 'request', requestId: `r-${seq}` }, 1_700_000_000_000 + seq),
  );
}

/** Stream entries as the append script writes them: ids in order, each `prevId` the writer's previous entry. */
function entries(lines: readonly string[], firstId = 1000): TrailEntry[] {
  return lines.map((line, i) => ({
    line,
    id: `${firstId + i}-0`,
    prevId: JSON.parse(line).seq === 0 ? '0' : `${firstId + i - 1}-0`,
  }));
}

describe('each outcome of verify has its own exit status', () => {
  it('maps ok, trimmed, gap, malformed, reordered, edited to 0, 3, 4, 5, 6, 7', () => {
    expect(VERIFY_EXIT).toEqual({ ok: 0, trimmed: 3, gap: 4, malformed: 5, reordered: 6, edited: 7 });
  });
});

describe('a torn write is reported as torn, not as malformed, and leaves the trail OK', () => {
  it('accepts a fragment of a line cut by a failed write, on a line of its own, anywhere in a file', () => {
    const lines = chain('w', 5);
    const torn = [lines[0]!, lines[1]!, lines[2]!.slice(0, 57), lines[2]!, lines[3]!, lines[4]!, '{"ti'];
    const report = verifyChain(torn);
    expect(report).toMatchObject({ ok: true, outcome: 'ok' });
    expect(report.findings).toEqual([
      { kind: 'torn', index: 2 },
      { kind: 'torn', index: 6 },
    ]);
  });

  it('still calls real garbage malformed', () => {
    const lines = chain('w', 2);
    expect(verifyChain([lines[0]!, 'garbage', lines[1]!])).toMatchObject({
      outcome: 'malformed',
      findings: [{ kind: 'malformed', index: 1 }],
    });
  });
});

describe('a missing head is "trimmed" only where the stream proves retention removed it', () => {
  const lines = chain('w', 10);
  const stored = entries(lines).slice(4); // seqs 0–3 are no longer in the stream

  it('says trimmed, with the count and the seq, when the predecessor is older than where the stream starts', () => {
    const report = verifyChain(stored, { retention: { trimmedBefore: '1004-0', trimmed: 4 } });
    expect(report).toMatchObject({ ok: true, outcome: 'trimmed' });
    expect(report.findings).toEqual([{ kind: 'trimmed', index: 0, writer: 'w', count: 4, beforeSeq: 4 }]);
  });

  it('says gap when the stream has no retention record (the head was lost, e.g. a Redis restart)', () => {
    expect(verifyChain(stored).findings).toEqual([{ kind: 'gap', index: 0, writer: 'w', fromSeq: 0, toSeq: 3 }]);
  });

  it('says gap when the predecessor was not in the part retention removed (deleted afterwards)', () => {
    const report = verifyChain(stored, { retention: { trimmedBefore: '1002-0', trimmed: 2 } });
    expect(report.outcome).toBe('gap');
  });

  it('says gap when the stream never held the predecessor (written after the stream was lost)', () => {
    const lost = stored.map((entry, i) => (i === 0 ? { ...entry, prevId: '' } : entry));
    expect(verifyChain(lost, { retention: { trimmedBefore: '1004-0', trimmed: 4 } }).outcome).toBe('gap');
  });

  it('tells a head lost before this stream from the part retention removed after it', () => {
    const report = verifyChain(stored, {
      retention: { trimmedBefore: '1004-0', trimmed: 2, origins: new Map([['w', 2]]) },
    });
    expect(report.findings).toEqual([
      { kind: 'gap', index: 0, writer: 'w', fromSeq: 0, toSeq: 1 },
      { kind: 'trimmed', index: 0, writer: 'w', count: 2, beforeSeq: 4 },
    ]);
    expect(report.outcome).toBe('gap');
  });
});

describe('the report lists every finding, worst outcome first in the headline', () => {
  it('names a gap and an edit in one trail, and exits with the edit', () => {
    const lines = chain('w', 8);
    const edited = lines[5]!.replace('"r-5"', '"r-X"');
    const result = auditVerify({
      input: [lines[0]!, lines[1]!, lines[4]!, edited, lines[6]!, lines[7]!],
      json: false,
      source: 'file audit.log',
    });
    expect(result).toMatchObject({ outcome: 'edited', exitCode: 7, ok: false });
    expect(result.output.split('\n')).toEqual([
      'EDITED: 6 event(s) from 1 writer(s) in file audit.log; an event was changed after it was written',
      '  writer w: gap from seq 2 to 3 (2 event(s)), before line 3',
      '  line 4: edited event (writer w, seq 5)',
    ]);
  });

  it('gives the same as one JSON object', () => {
    const result = auditVerify({ input: chain('w', 3), json: true, source: 'file a' });
    expect(JSON.parse(result.output)).toEqual({
      source: 'file a',
      ok: true,
      outcome: 'ok',
      events: 3,
      writers: 1,
      findings: [],
    });
  });
});
