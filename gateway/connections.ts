import type { Task } from './domain.js';
import type { LeaseRecord } from './leases/record.js';

import type { CutReason } from './metric-labels.js';

export type { CutReason };

/**
 * One bound connection. Unbinding it drops `cut`, the one edge from the registry to the request: a Set that churns
 * leaves its obsolete hash tables in old space, still pointing at removed entries, and until the next full GC the
 * scavenger keeps alive (and promotes) all an entry reaches: a whole request each time (bench/RESULTS-ablation.md).
 */
interface Entry {
  cut: ((reason: CutReason) => void) | undefined;
  readonly expiresAt: number;
}

/** One task's connections, with one timer at the earliest expiry among them (not one timer per request). */
interface Group {
  readonly entries: Set<Entry>;
  timer: NodeJS.Timeout | undefined;
  dueAt: number;
}

/** How long a close is remembered for admissions that read their task just before it (see `register`). */
const REMEMBER_MS = 60_000;
const REMEMBER_MAX = 100_000;

/**
 * The live connections of this replica that carry a credential: streaming requests and responses (SSE
 * included), upgraded WebSockets, MCP streams and relayed PostgreSQL sessions, each bound to its task. Closing the
 * task anywhere (the pub/sub notice), a kill switch, or the task's or lease's expiry (a timer per task) cuts them
 * at once; what a cut does is the entry's own (a PostgreSQL session sends 57P01 and its role is dropped by the
 * revocation). Owned by the gateway object.
 */
export class LiveConnections {
  readonly #byTask = new Map<string, Group>();
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
    const entry: Entry = { cut, expiresAt };
    if ((this.#recent.get(taskId)?.seq ?? -1) > seenSeq || this.#allCutAt > seenSeq) {
      this.#fire(entry, 'task_closed');
      return () => {};
    }
    let group = this.#byTask.get(taskId);
    if (!group) {
      group = { entries: new Set(), timer: undefined, dueAt: Number.POSITIVE_INFINITY };
      this.#byTask.set(taskId, group);
    }
    group.entries.add(entry);
    if (expiresAt < group.dueAt) this.#arm(taskId, group, expiresAt);
    const entries = group.entries;
    return () => {
      entries.delete(entry);
      entry.cut = undefined;
    };
  }

  /** Cut every connection of `taskId` (its close notice, on every replica). */
  cutTask(taskId: string, reason: CutReason): void {
    this.#seq++;
    this.#remember(taskId);
    const group = this.#byTask.get(taskId);
    if (!group) return;
    this.#byTask.delete(taskId);
    clearTimeout(group.timer);
    for (const entry of [...group.entries]) this.#fire(entry, reason);
  }

  /** Cut every live connection (a `*` notice). */
  cutAll(reason: CutReason): void {
    this.#allCutAt = ++this.#seq;
    const groups = [...this.#byTask.values()];
    this.#byTask.clear();
    for (const group of groups) {
      clearTimeout(group.timer);
      for (const entry of [...group.entries]) this.#fire(entry, reason);
    }
  }

  /** Task ids with live connections (to check again after notices may have been missed). */
  taskIds(): string[] {
    return [...this.#byTask.keys()];
  }

  /** Connections bound to `taskId` right now. */
  countFor(taskId: string): number {
    return this.#byTask.get(taskId)?.entries.size ?? 0;
  }

  /** Connections bound right now. */
  get size(): number {
    let n = 0;
    for (const group of this.#byTask.values()) n += group.entries.size;
    return n;
  }

  #arm(taskId: string, group: Group, at: number): void {
    clearTimeout(group.timer);
    group.dueAt = at;
    group.timer = setTimeout(() => this.#expire(taskId, group), Math.max(0, at - this.#now()));
    group.timer.unref();
  }

  /** The group's timer: cut what expired, re-arm for the next expiry, or forget the group when none is left. */
  #expire(taskId: string, group: Group): void {
    group.timer = undefined;
    group.dueAt = Number.POSITIVE_INFINITY;
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const entry of [...group.entries]) {
      if (entry.expiresAt > now) next = Math.min(next, entry.expiresAt);
      else {
        group.entries.delete(entry);
        this.#fire(entry, 'expired');
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(taskId, group, next);
    else if (this.#byTask.get(taskId) === group) this.#byTask.delete(taskId);
  }

  #fire(entry: Entry, reason: CutReason): void {
    const cut = entry.cut;
    if (cut === undefined) return; // unbound meanwhile
    this.#onCut(reason);
    cut(reason);
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
