import type { Task } from './domain.js';
import type { LeaseRecord } from './leases/record.js';

import type { CutReason } from './metric-labels.js';

export type { CutReason };

/** One bound connection: a link in its task's list until it is unbound. */
interface Entry {
  /** Dropped when the connection is unbound: nothing the registry holds reaches the request after that. */
  cut: ((reason: CutReason) => void) | undefined;
  readonly expiresAt: number;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/**
 * One task's connections, with one timer at the earliest expiry among them (not one timer per request). The
 * connections are a list linked through the entries, not a Set: a Set that churns (a bind and an unbind per
 * request) leaves obsolete hash tables in old space that still point at removed entries, and until the next full GC
 * the scavenger keeps alive, and promotes, everything an entry reaches: a whole request each time
 * (docs/performance.md, "Changed in the fifth round"). Unlinking leaves no such table behind.
 */
class Group {
  #head: Entry | undefined;
  #tail: Entry | undefined;
  timer: NodeJS.Timeout | undefined;
  dueAt = Number.POSITIVE_INFINITY;

  /** Counted along the list (for tests and debugging): what is linked is what is bound. */
  get size(): number {
    let n = 0;
    for (let entry = this.#head; entry; entry = entry.next) n++;
    return n;
  }

  /** At the end: connections are cut in the order they were bound. */
  add(entry: Entry): void {
    entry.prev = this.#tail;
    if (this.#tail) this.#tail.next = entry;
    else this.#head = entry;
    this.#tail = entry;
  }

  /** Unlink `entry` (once: later calls do nothing) and return its cut, now dropped from it. */
  remove(entry: Entry): ((reason: CutReason) => void) | undefined {
    const cut = entry.cut;
    if (cut === undefined) return undefined;
    entry.cut = undefined;
    if (entry.prev) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.#tail = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
    return cut;
  }

  /** The bound entries now (a copy: a cut may unbind others while the caller goes through them). */
  entries(): Entry[] {
    const all: Entry[] = [];
    for (let entry = this.#head; entry; entry = entry.next) all.push(entry);
    return all;
  }
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
    if ((this.#recent.get(taskId)?.seq ?? -1) > seenSeq || this.#allCutAt > seenSeq) {
      this.#fire(cut, 'task_closed');
      return () => {};
    }
    let group = this.#byTask.get(taskId);
    if (!group) {
      group = new Group();
      this.#byTask.set(taskId, group);
    }
    const entry: Entry = { cut, expiresAt, prev: undefined, next: undefined };
    group.add(entry);
    if (expiresAt < group.dueAt) this.#arm(taskId, group, expiresAt);
    const bound = group;
    return () => void bound.remove(entry);
  }

  /** Cut every connection of `taskId` (its close notice, on every replica). */
  cutTask(taskId: string, reason: CutReason): void {
    this.#seq++;
    this.#remember(taskId);
    const group = this.#byTask.get(taskId);
    if (!group) return;
    this.#byTask.delete(taskId);
    clearTimeout(group.timer);
    for (const entry of group.entries()) this.#fire(group.remove(entry), reason);
  }

  /** Cut every live connection (a `*` notice). */
  cutAll(reason: CutReason): void {
    this.#allCutAt = ++this.#seq;
    const groups = [...this.#byTask.values()];
    this.#byTask.clear();
    for (const group of groups) {
      clearTimeout(group.timer);
      for (const entry of group.entries()) this.#fire(group.remove(entry), reason);
    }
  }

  /** Task ids with live connections (to check again after notices may have been missed). */
  taskIds(): string[] {
    return [...this.#byTask.keys()];
  }

  /** Connections bound to `taskId` right now. */
  countFor(taskId: string): number {
    return this.#byTask.get(taskId)?.size ?? 0;
  }

  /** Connections bound right now. */
  get size(): number {
    let n = 0;
    for (const group of this.#byTask.values()) n += group.size;
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
    for (const entry of group.entries()) {
      if (entry.expiresAt > now) next = Math.min(next, entry.expiresAt);
      else this.#fire(group.remove(entry), 'expired');
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(taskId, group, next);
    else if (this.#byTask.get(taskId) === group) this.#byTask.delete(taskId);
  }

  /** `cut` is undefined for a connection unbound meanwhile (by another's cut): it is not cut again. */
  #fire(cut: ((reason: CutReason) => void) | undefined, reason: CutReason): void {
    if (cut === undefined) return;
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
