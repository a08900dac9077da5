/** One line of a trail, with what the Redis stream knows about it. */
export interface TrailEntry {
  readonly line: string;
  /** The stream entry's id (`ms-seq`), when read from the Redis stream. */
  readonly id?: string;
  /**
   * The stream id of the same writer's previous entry, as the append script saw it: `0` before a writer's first
   * event, empty when the stream never held the predecessor (the writer's events before a Redis restart).
   */
  readonly prevId?: string;
}

/** What the Redis stream records about its own retention (`<prefix>audit:meta`, `<prefix>audit:writers`). */
export interface RetentionState {
  /** Every entry with an id below this one was removed by retention (`XTRIM MINID`), not lost. */
  readonly trimmedBefore?: string;
  /** How many entries retention has removed in all. */
  readonly trimmed?: number;
  /** Per writer, the first seq it wrote into this stream without the stream holding its predecessor. */
  readonly origins?: ReadonlyMap<string, number>;
}

export interface VerifyOptions {
  readonly retention?: RetentionState;
  /** Findings listed in the report (all are counted in the outcome); default 100. */
  readonly maxFindings?: number;
}

/**
 * What `escrow audit verify` found, from harmless to tampering: `torn` is a partial line left by a write that
 * failed or was killed (never acknowledged, not an event); `trimmed` a head removed by retention; `gap` events
 * lost (a sink down past its queue, a Redis restart, a deletion); `malformed` a line that is no audit event;
 * `reordered` a writer's events out of order; `edited` an event changed after it was written.
 */
export type Finding =
  | { readonly kind: 'torn'; readonly index: number }
  | { readonly kind: 'malformed'; readonly index: number }
  | {
      readonly kind: 'trimmed';
      readonly index: number;
      readonly writer: string;
      /** Events of this writer before `beforeSeq` that retention removed. */
      readonly count: number;
      readonly beforeSeq: number;
    }
  | { readonly kind: 'gap'; readonly index: number; readonly writer: string; fromSeq: number; toSeq: number }
  | { readonly kind: 'reordered' | 'edited'; readonly index: number; readonly writer: string; readonly seq: number };

/** The trail's state, the worst finding: each has its own exit status (`VERIFY_EXIT`). */
export type VerifyOutcome = 'ok' | 'trimmed' | 'gap' | 'malformed' | 'reordered' | 'edited';

/** Exit status of `escrow audit verify` per outcome (1 and 2 stay "could not run" and "usage"). */
export const VERIFY_EXIT: Readonly<Record<VerifyOutcome, number>> = Object.freeze({
  ok: 0,
  trimmed: 3,
  gap: 4,
  malformed: 5,
  reordered: 6,
  edited: 7,
});

const SEVERITY: readonly VerifyOutcome[] = ['ok', 'trimmed', 'gap', 'malformed', 'reordered', 'edited'];

/** The worst outcome among the findings (`torn` alone leaves the trail `ok`). */
export function outcomeOf(findings: readonly Finding[]): VerifyOutcome {
  let worst = 0;
  for (const finding of findings) {
    if (finding.kind === 'torn') continue;
    worst = Math.max(worst, SEVERITY.indexOf(finding.kind));
  }
  return SEVERITY[worst] ?? 'ok';
}

export interface ChainReport {
  /** True when nothing was lost or changed: outcome `ok` or `trimmed` (by retention). */
  readonly ok: boolean;
  readonly outcome: VerifyOutcome;
  /** Non-blank lines read. */
  readonly events: number;
  readonly writers: number;
  /** In input order (`index` is the 0-based line or stream entry). */
  readonly findings: readonly Finding[];
  /** Findings beyond `maxFindings`, counted but not listed. */
  readonly moreFindings?: number;
}
