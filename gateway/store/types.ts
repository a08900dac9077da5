/**
 * The store contract: everything Escrow shares between replicas. Redis in production; an in-memory
 * implementation with the same behaviour for a single process. Values are opaque strings (leases arrive
 * already encrypted). Every method rejects with EscrowError('store_unavailable') when the store is down.
 *
 * A command that failed may still have run (a timed-out Redis command can execute later): every write here is
 * idempotent or guarded, so that the caller can simply send it again.
 */

/** A task record and its tombstone (absent while the task is live; written first when it is closed). */
export interface TaskEntry {
  readonly record: string;
  readonly tombstone: string | null;
}

export interface TaskStore {
  /** Create or overwrite the task record; it disappears after `ttlMs`. Also indexes it under its parent. */
  put(id: string, record: string, ttlMs: number, parent?: string): Promise<void>;
  get(id: string): Promise<string | null>;
  /** The record and its tombstone, read together (one round trip). */
  read(id: string): Promise<TaskEntry | null>;
  /**
   * Close the task: write `tombstone` unless one is there (`replace`: overwrite it, an ambient lease fence), keep
   * the record, the tombstone and the child set for at least `retainMs`, and publish `task:<id>` on the
   * revocation bus. One atomic step: a close that reached the store is never missed by any replica, and a step
   * joining the child set concurrently is either returned here or sees the tombstone. Null when no record.
   */
  close(
    id: string,
    tombstone: string,
    retainMs: number,
    replace?: boolean,
  ): Promise<{ entry: TaskEntry; children: readonly string[] } | null>;
  /** Delete the task record, its tombstone, its lease index and its child index; returns the child task ids. */
  delete(id: string): Promise<readonly string[]>;
}

/** What writing a lease did: written, refused because one is there, or refused because the task was closed. */
export type LeaseWrite = 'written' | 'exists' | 'closed';

/** A lease taken out of service for revocation. */
export interface TakenLease {
  /** Identifies this lease among the task's taken ones (`settle` takes it back). */
  readonly ref: string;
  readonly target: string;
  readonly value: string;
}

export interface TakeOptions {
  /** Who takes them (one close job); a lease stays with its claim until settled or until the claim is stale. */
  readonly claim: string;
  readonly nowMs: number;
  readonly staleAfterMs: number;
  readonly retainMs: number;
}

export interface LeaseStore {
  get(taskId: string, target: string): Promise<string | null>;
  /**
   * Store the lease and index it under its task, only if no lease is there yet and the task's tombstone is
   * still `fence` ('' = no tombstone): a lease can never be written after its task was closed.
   */
  putIfAbsent(taskId: string, target: string, value: string, ttlMs: number, fence?: string): Promise<LeaseWrite>;
  /** Replace a lease (renewal), under the same fence. */
  replace(taskId: string, target: string, value: string, ttlMs: number, fence?: string): Promise<LeaseWrite>;
  /**
   * Take every lease of the task out of service (deleted, kept aside for revocation under `claim`). Returns the
   * leases this claim holds, including those a previous attempt with the same claim took and never heard of,
   * and those whose claim went stale (its holder died); never another live claim's.
   */
  take(taskId: string, options: TakeOptions): Promise<readonly TakenLease[]>;
  /** These taken leases are revoked upstream: forget them. Returns how many of the task's are still pending. */
  settle(taskId: string, refs: readonly string[]): Promise<number>;
}

/**
 * Which tasks exist, by expiry: for per-principal limits, admin revocation (`--principal`, `--all`) and the
 * sweeper that revokes the leases of tasks that expired. Members are `<taskId>:<principalHash>`.
 */
export interface TaskIndex {
  /**
   * One atomic step: drop the principal's expired entries, count the rest, and add this task unless `max` are
   * already open. True when added. The open-task limit holds exactly under any concurrency.
   */
  reserve(taskId: string, principalHash: string, expiresAtMs: number, nowMs: number, max: number): Promise<boolean>;
  /** Add to the index of every task (sweeper, kill switch, listings). */
  add(taskId: string, principalHash: string, expiresAtMs: number): Promise<void>;
  /** Remove from both indexes. */
  remove(taskId: string, principalHash: string): Promise<void>;
  /** Live task ids of one principal (expired ones are dropped from the principal's index). */
  byPrincipal(principalHash: string, nowMs: number): Promise<readonly string[]>;
  /** Index members whose expiry is ≤ `untilMs` (all of them with Infinity), oldest first. */
  range(fromMs: number, untilMs: number, limit: number): Promise<readonly { taskId: string; principalHash: string }[]>;
}

/** A short-lived cross-replica lock (Redis `SET NX PX`): one issuer per lease. */
export interface LockStore {
  /**
   * Take the lock with a token the caller generated, so that a release can always be sent (compare and delete),
   * even after an acquire whose answer was lost but which ran.
   */
  acquire(name: string, token: string, ttlMs: number): Promise<boolean>;
  release(name: string, token: string): Promise<void>;
}

/** Closes that were started and must be finished, durable across replicas (gateway/leases/closing.ts). */
export interface CloseOutbox {
  /** Note `member` as due at `dueAtMs` (a later call moves it). */
  schedule(member: string, dueAtMs: number): Promise<void>;
  /** Members due by `untilMs`, oldest first. */
  due(untilMs: number, limit: number): Promise<readonly string[]>;
  done(member: string): Promise<void>;
}

/** Cross-replica revocation notices (pub/sub). */
export interface RevocationBus {
  publish(message: string): Promise<void>;
  /** `onMessage` for every notice; `onState(false)` while the subscription is down (stop trusting caches). */
  subscribe(onMessage: (message: string) => void, onState: (healthy: boolean) => void): Promise<void>;
}

/** One batch of one writer's consecutive audit lines: `lines[i]` has seq `firstSeq + i`. */
export interface AuditBatch {
  readonly writer: string;
  readonly firstSeq: number;
  readonly lines: readonly string[];
}

/** One stream entry: the line, its id, and the id of the same writer's previous entry (see `TrailEntry`). */
export interface StreamEntry {
  readonly id: string;
  readonly line: string;
  readonly prevId: string;
}

/** The whole stream for `escrow audit verify`, with what it records about its own retention. */
export interface StreamContents {
  readonly entries: readonly StreamEntry[];
  /** Every entry with an id below this one was removed by retention. */
  readonly trimmedBefore?: string;
  readonly trimmed: number;
  /** Per writer, the first seq it wrote without the stream holding its predecessor (0 for most). */
  readonly origins: ReadonlyMap<string, number>;
}

/**
 * The audit stream shared by all replicas (`escrow:audit`): retention by age, a hard size bound that refuses
 * rather than evicts, and batches that are written whole or not at all.
 */
export interface EventStream {
  /**
   * Append one batch atomically and in order. Seqs of this writer already in the stream (a retried batch whose
   * first attempt did land) are skipped. Rejects when the stream is at its size bound.
   */
  append(batch: AuditBatch): Promise<void>;
  /** Every line from the oldest (for `escrow audit trace`). */
  readAll(): Promise<readonly string[]>;
  /** Every entry with its retention record (for `escrow audit verify`). */
  read(): Promise<StreamContents>;
}

export interface Store {
  readonly kind: 'redis' | 'memory';
  /** The ioredis client, for features that need Redis itself (the identity replay cache). */
  readonly redis?: import('ioredis').Redis;
  readonly tasks: TaskStore;
  readonly leases: LeaseStore;
  readonly index: TaskIndex;
  readonly locks: LockStore;
  readonly closing: CloseOutbox;
  readonly revocations: RevocationBus;
  readonly events: EventStream;
  /** Rejects when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
