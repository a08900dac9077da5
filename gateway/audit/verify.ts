import { eventHash, GENESIS } from './canonical.js';
import { type AuditRecord, parseLine } from './parse.js';

export type ChainProblem = 'edited' | 'missing' | 'reordered' | 'malformed';

export interface ChainBreak {
  /** Index in the input lines of the event that broke (for `missing`: where the gap shows). */
  readonly index: number;
  readonly writer: string;
  /** The broken event's sequence number; for `missing`, the first sequence number that is absent. */
  readonly seq: number;
  readonly problem: ChainProblem;
}

export interface ChainReport {
  readonly ok: boolean;
  /** Non-blank lines read. */
  readonly events: number;
  readonly writers: number;
  readonly firstBreak?: ChainBreak;
}

export interface VerifyOptions {
  /** Accept a writer whose first event is not seq 0 (a Redis stream trimmed by `MAXLEN`). */
  readonly allowTrimmedHead?: boolean;
}

interface Entry {
  readonly index: number;
  readonly record: AuditRecord;
  readonly writer: string;
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
}

interface WriterState {
  next: number;
  lastHash: string;
  lastIndex: number;
  readonly seen: Map<number, string>;
}

function toEntry(index: number, record: AuditRecord | undefined): Entry | undefined {
  if (!record) return undefined;
  const { writer, seq, prev, hash } = record;
  if (typeof writer !== 'string' || typeof prev !== 'string' || typeof hash !== 'string') return undefined;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  return { index, record, writer, seq, prev, hash };
}

/** Where `entry` breaks its writer's chain, if it does. Exact duplicates (a retried write) are not a break. */
function check(
  entry: Entry,
  state: WriterState,
  later: ReadonlyMap<number, number>,
): ChainBreak | 'duplicate' | undefined {
  const at = (problem: ChainProblem, index = entry.index, seq = entry.seq): ChainBreak => ({
    index,
    writer: entry.writer,
    seq,
    problem,
  });
  if (eventHash(entry.record) !== entry.hash) return at('edited');
  const seen = state.seen.get(entry.seq);
  if (seen !== undefined) return seen === entry.hash ? 'duplicate' : at('edited');
  if (entry.seq < state.next) return at('reordered');
  if (entry.seq > state.next) return later.has(state.next) ? at('reordered') : at('missing', entry.index, state.next);
  if (entry.prev === state.lastHash) return undefined;
  // The predecessor's hash no longer matches what its successor recorded: the predecessor was rewritten.
  return state.lastIndex < 0 ? at('edited') : at('edited', state.lastIndex, entry.seq - 1);
}

type Line = Entry | { readonly index: number; readonly writer?: undefined };

function readLines(lines: readonly string[]): Line[] {
  const read: Line[] = [];
  lines.forEach((line, index) => {
    if (line.trim() !== '') read.push(toEntry(index, parseLine(line)) ?? { index });
  });
  return read;
}

/** Per writer, how many times each sequence number is still to come. */
function countAhead(lines: readonly Line[]): Map<string, Map<number, number>> {
  const ahead = new Map<string, Map<number, number>>();
  for (const line of lines) {
    if (line.writer === undefined) continue;
    const seqs = ahead.get(line.writer) ?? new Map<number, number>();
    seqs.set(line.seq, (seqs.get(line.seq) ?? 0) + 1);
    ahead.set(line.writer, seqs);
  }
  return ahead;
}

function consume(ahead: Map<number, number>, seq: number): void {
  const left = (ahead.get(seq) ?? 1) - 1;
  if (left === 0) ahead.delete(seq);
  else ahead.set(seq, left);
}

function firstBreakOf(lines: readonly Line[], options: VerifyOptions): ChainBreak | undefined {
  const ahead = countAhead(lines);
  const states = new Map<string, WriterState>();
  for (const line of lines) {
    if (line.writer === undefined) return { index: line.index, writer: '', seq: -1, problem: 'malformed' };
    const later = ahead.get(line.writer) as Map<number, number>;
    consume(later, line.seq);
    const state = states.get(line.writer) ?? startState(line, options);
    states.set(line.writer, state);
    const result = check(line, state, later);
    if (result === 'duplicate') continue;
    if (result) return result;
    state.seen.set(line.seq, line.hash);
    state.next = line.seq + 1;
    state.lastHash = line.hash;
    state.lastIndex = line.index;
  }
  return undefined;
}

/**
 * Checks every writer's hash chain: each event's hash matches its content, sequence numbers run 0, 1, 2…
 * without gaps in input order, and each `prev` is the hash of the writer's previous event. Reports the first
 * break. A hash chain cannot show events cut off the end of a chain; compare the last hash with another sink.
 */
export function verifyChain(lines: readonly string[], options: VerifyOptions = {}): ChainReport {
  const read = readLines(lines);
  const writers = new Set(read.flatMap((line) => (line.writer === undefined ? [] : [line.writer]))).size;
  const firstBreak = firstBreakOf(read, options);
  return firstBreak
    ? { ok: false, events: read.length, writers, firstBreak }
    : { ok: true, events: read.length, writers };
}

function startState(first: Entry, options: VerifyOptions): WriterState {
  if (options.allowTrimmedHead && first.seq > 0) {
    return { next: first.seq, lastHash: first.prev, lastIndex: -1, seen: new Map() };
  }
  return { next: 0, lastHash: GENESIS, lastIndex: -1, seen: new Map() };
}
