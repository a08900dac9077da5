import { GENESIS, hashMatches } from './canonical.js';
import { type AuditRecord, parseLine } from './parse.js';
import { type ChainReport, type Finding, outcomeOf, type TrailEntry, type VerifyOptions } from './verify-types.js';

export * from './verify-types.js';

interface Event {
  readonly index: number;
  readonly line: string;
  readonly record: AuditRecord;
  readonly writer: string;
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
  readonly prevId?: string;
}

interface WriterState {
  next: number;
  lastHash: string;
  lastIndex: number;
  readonly seen: Map<number, string>;
}

/** How every sealed line starts: an unparsable line that starts so (or is cut inside it) is a torn write. */
const LINE_START = '{"time":"';

function toEvent(index: number, entry: TrailEntry): Event | 'torn' | 'malformed' {
  const record = parseLine(entry.line);
  if (!record) return LINE_START.startsWith(entry.line) || entry.line.startsWith(LINE_START) ? 'torn' : 'malformed';
  const { writer, seq, prev, hash } = record;
  if (typeof writer !== 'string' || typeof prev !== 'string' || typeof hash !== 'string') return 'malformed';
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return 'malformed';
  return { index, line: entry.line, record, writer, seq, prev, hash, prevId: entry.prevId };
}

/** Stream ids `ms-seq`, compared as numbers. */
function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map((part) => BigInt(part));
  const [bm = 0n, bs = 0n] = b.split('-').map((part) => BigInt(part));
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

function isStreamId(value: string | undefined): value is string {
  return value !== undefined && /^\d+-\d+$/.test(value);
}

/** A writer's first event is not seq 0: retention removed the head (the stream proves it), or events were lost. */
function head(event: Event, options: VerifyOptions): Finding[] {
  const retention = options.retention;
  const before = retention?.trimmedBefore;
  const byRetention = isStreamId(event.prevId) && isStreamId(before) && compareIds(event.prevId, before) < 0;
  if (!byRetention)
    return [{ kind: 'gap', index: event.index, writer: event.writer, fromSeq: 0, toSeq: event.seq - 1 }];
  const origin = Math.min(retention?.origins?.get(event.writer) ?? 0, event.seq);
  const trimmed: Finding = {
    kind: 'trimmed',
    index: event.index,
    writer: event.writer,
    count: event.seq - origin,
    beforeSeq: event.seq,
  };
  if (origin === 0) return [trimmed];
  return [{ kind: 'gap', index: event.index, writer: event.writer, fromSeq: 0, toSeq: origin - 1 }, trimmed];
}

/** What `event` shows about its writer's chain: nothing (in order), a duplicate, or findings. */
function check(event: Event, state: WriterState, later: ReadonlyMap<number, number>): Finding[] | 'duplicate' {
  const at = (kind: 'edited' | 'reordered', index = event.index, seq = event.seq): Finding => ({
    kind,
    index,
    writer: event.writer,
    seq,
  });
  const seen = state.seen.get(event.seq);
  if (seen !== undefined) return seen === event.hash ? 'duplicate' : [at('edited')];
  if (event.seq < state.next) return [at('reordered')];
  if (event.seq > state.next) {
    for (let seq = state.next; seq < event.seq; seq++) if (later.has(seq)) return [at('reordered')];
    return [{ kind: 'gap', index: event.index, writer: event.writer, fromSeq: state.next, toSeq: event.seq - 1 }];
  }
  if (event.prev === state.lastHash) return [];
  // The predecessor's hash no longer matches what its successor recorded: the predecessor was rewritten.
  return state.lastIndex < 0 ? [at('edited')] : [at('edited', state.lastIndex, event.seq - 1)];
}

/** Per writer, how many times each sequence number is still to come. */
function countAhead(events: readonly Event[]): Map<string, Map<number, number>> {
  const ahead = new Map<string, Map<number, number>>();
  for (const event of events) {
    const seqs = ahead.get(event.writer) ?? new Map<number, number>();
    seqs.set(event.seq, (seqs.get(event.seq) ?? 0) + 1);
    ahead.set(event.writer, seqs);
  }
  return ahead;
}

function consume(ahead: Map<number, number>, seq: number): void {
  const left = (ahead.get(seq) ?? 1) - 1;
  if (left === 0) ahead.delete(seq);
  else ahead.set(seq, left);
}

function chainFindings(events: readonly Event[], options: VerifyOptions): Finding[] {
  const ahead = countAhead(events);
  const states = new Map<string, WriterState>();
  const findings: Finding[] = [];
  for (const event of events) {
    const later = ahead.get(event.writer) as Map<number, number>;
    consume(later, event.seq);
    if (!hashMatches(event.line, event.record)) findings.push({ kind: 'edited', ...position(event) });
    let state = states.get(event.writer);
    if (!state) {
      state = { next: event.seq, lastHash: event.seq === 0 ? GENESIS : event.prev, lastIndex: -1, seen: new Map() };
      states.set(event.writer, state);
      if (event.seq > 0) {
        const earlier = [...later.keys()].some((seq) => seq < event.seq);
        findings.push(...(earlier ? [{ kind: 'reordered' as const, ...position(event) }] : head(event, options)));
      }
    }
    const result = check(event, state, later);
    if (result === 'duplicate') continue;
    findings.push(...result);
    state.seen.set(event.seq, event.hash);
    if (event.seq < state.next) continue; // a late event: the chain goes on from the newest one
    state.next = event.seq + 1;
    state.lastHash = event.hash;
    state.lastIndex = event.index;
  }
  return findings;
}

function position(event: Event) {
  return { index: event.index, writer: event.writer, seq: event.seq };
}

/**
 * Checks every writer's hash chain and says what happened to the trail: each event's hash matches its content,
 * sequence numbers run without gaps in input order, each `prev` is the hash of the writer's previous event. A
 * missing head is "trimmed" only where the Redis stream proves retention removed it (`options.retention` and
 * each entry's `prevId`); otherwise it is a gap, like any missing run. A partial line left by a failed or killed
 * write is "torn", not malformed. Events cut off the end of a chain cannot show: compare last hashes across sinks.
 */
export function verifyChain(input: readonly (string | TrailEntry)[], options: VerifyOptions = {}): ChainReport {
  const findings: Finding[] = [];
  const events: Event[] = [];
  let read = 0;
  input.forEach((item, index) => {
    const entry = typeof item === 'string' ? { line: item } : item;
    if (entry.line.trim() === '') return;
    read += 1;
    const event = toEvent(index, entry);
    if (event === 'torn' || event === 'malformed') findings.push({ kind: event, index });
    else events.push(event);
  });
  findings.push(...chainFindings(events, options));
  findings.sort((a, b) => a.index - b.index);
  const outcome = outcomeOf(findings);
  const writers = new Set(events.map((event) => event.writer)).size;
  const limit = options.maxFindings ?? 100;
  return {
    ok: outcome === 'ok' || outcome === 'trimmed',
    outcome,
    events: read,
    writers,
    findings: findings.slice(0, limit),
    ...(findings.length > limit ? { moreFindings: findings.length - limit } : {}),
  };
}
