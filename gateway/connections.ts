import type { Task } from './domain.js';
import type { LeaseRecord } from './leases/record.js';

/** Why a live connection was cut (the `reason` label of `escrow_connections_cut_total`). */
export const CUT_REASONS = ['task_closed', 'expired', 'revoked'] as const;
export type CutReason = (typeof CUT_REASONS)[number];

interface Entry {
  readonly cut: (reason: CutReason) => void;
  timer: NodeJS.Timeout | undefined;
}

/** How long a close is remembered for admissions that read their task just before it (see `register`). */
const REMEMBER_MS = 60_000;
const REMEMBER_MAX = 100_000;

/**
 * The live connections of this replica that carry a credential: streaming requests and responses (SSE
 * included) and upgraded WebSockets, each bound to its task. Closing the task anywhere (the pub/sub notice), a
 * kill switch, or the task's or lease's expiry (a timer) cuts them at once. Owned by the gateway object.
 */
export class LiveConnections {
  readonly #byTask = new Map<string, Set<Entry>>();
  readonly #now: () => number;
  readonly #onCut: (reason: CutReason) => void;
  /** Task id → the sequence number of its last close notice here. */
  readonly #recent = new Map<string, { seq: number; at: number }>();
  #seq = 0;
  #allCutAt = -1;

  constructor(now: () => number = Date.now, onCut: (reason: CutReason) => void = () => {}) {
    this.#now = now;
    this.#onCut = onCut;
  }

  /** Take this before an admission reads its task, and hand it to `register`. */
  get seq(): number {
    return this.#seq;
  }

  /**
   * Bind a connection to `taskId` until `expiresAt`; returns the function that unbinds it (call it on close).
   * A close notice that arrived after `seenSeq` (while the admission was still running, after it had read its
   * task as live) cuts the connection at once: no request outlives a close it raced with.
   */
  register(taskId: string, expiresAt: number, seenSeq: number, cut: (reason: CutReason) => void): () => void {
    const closedMeanwhile = (this.#recent.get(taskId)?.seq ?? -1) > seenSeq || this.#allCutAt > seenSeq;
    const entry: Entry = { cut, timer: undefined };
    let set = this.#byTask.get(taskId);
    if (!set) {
      set = new Set();
      this.#byTask.set(taskId, set);
    }
    set.add(entry);
    const unbind = () => {
      clearTimeout(entry.timer);
      set.delete(entry);
      if (set.size === 0 && this.#byTask.get(taskId) === set) this.#byTask.delete(taskId);
    };
    if (closedMeanwhile) this.#cut(entry, 'task_closed', unbind);
    else {
      entry.timer = setTimeout(() => this.#cut(entry, 'expired', unbind), Math.max(0, expiresAt - this.#now()));
      entry.timer.unref();
    }
    return unbind;
  }

  /** Cut every connection of `taskId` (its close notice, on every replica). */
  cutTask(taskId: string, reason: CutReason): void {
    this.#seq++;
    this.#remember(taskId);
    for (const entry of [...(this.#byTask.get(taskId) ?? [])]) this.#cut(entry, reason);
    this.#byTask.delete(taskId);
  }

  /** Cut every live connection (a `*` notice). */
  cutAll(reason: CutReason): void {
    this.#allCutAt = ++this.#seq;
    for (const set of [...this.#byTask.values()]) for (const entry of [...set]) this.#cut(entry, reason);
    this.#byTask.clear();
  }

  /** Connections bound right now. */
  get size(): number {
    let n = 0;
    for (const set of this.#byTask.values()) n += set.size;
    return n;
  }

  #cut(entry: Entry, reason: CutReason, unbind?: () => void): void {
    clearTimeout(entry.timer);
    unbind?.();
    this.#onCut(reason);
    entry.cut(reason);
  }

  #remember(taskId: string): void {
    const now = this.#now();
    this.#recent.delete(taskId);
    this.#recent.set(taskId, { seq: this.#seq, at: now });
    // Insertion order is time order: the oldest come first.
    for (const [id, { at }] of this.#recent) {
      if (at > now - REMEMBER_MS && this.#recent.size <= REMEMBER_MAX) break;
      this.#recent.delete(id);
    }
  }
}

/** What an admitted request or upgrade knows that binds it: its lease, its task, what it saw of the notices. */
export interface Bindable {
  readonly lease?: LeaseRecord;
  readonly task?: Task;
  readonly seenSeq?: number;
}

/**
 * Bind an admitted connection to its task (or ambient lease) until the task or the lease expires, whichever is
 * first: its close on any replica, a kill switch or that expiry calls `cut`. Returns the unbind function.
 */
export function bindConnection(live: LiveConnections, a: Bindable, cut: (reason: CutReason) => void): () => void {
  const lease = a.lease!;
  const expiresAt = Math.min(lease.expiresAt, a.task?.expiresAt ?? Number.POSITIVE_INFINITY);
  return live.register(lease.taskId, expiresAt, a.seenSeq ?? -1, cut);
}
