/**
 * The store contract: everything Escrow shares between replicas. Redis in production; an in-memory
 * implementation with the same behaviour for a single process. Values are opaque strings (leases arrive
 * already encrypted). Every method rejects with EscrowError('store_unavailable') when the store is down.
 */

export interface TaskStore {
  /** Create or overwrite the task record; it disappears after `ttlMs`. Also indexes it under its parent. */
  put(id: string, record: string, ttlMs: number, parent?: string): Promise<void>;
  get(id: string): Promise<string | null>;
  /** Delete the task record, its lease index and its child index; returns the child task ids. */
  delete(id: string): Promise<readonly string[]>;
}

export interface LeaseStore {
  get(taskId: string, target: string): Promise<string | null>;
  /** Store the lease and index it under its task, only if no lease is there yet. True when written. */
  putIfAbsent(taskId: string, target: string, value: string, ttlMs: number): Promise<boolean>;
  /** Replace a lease (renewal). */
  replace(taskId: string, target: string, value: string, ttlMs: number): Promise<void>;
  /** Delete every lease of the task; returns what was deleted (for upstream revocation). */
  deleteForTask(taskId: string): Promise<readonly { target: string; value: string }[]>;
}

/**
 * Which tasks exist, by expiry: for per-principal limits, admin revocation (`--principal`, `--all`) and the
 * sweeper that revokes the leases of tasks that expired. Members are `<taskId>:<principalHash>`.
 */
export interface TaskIndex {
  add(taskId: string, principalHash: string, expiresAtMs: number): Promise<void>;
  remove(taskId: string, principalHash: string): Promise<void>;
  /** Live task ids of one principal (expired ones are dropped from the principal's index). */
  byPrincipal(principalHash: string, nowMs: number): Promise<readonly string[]>;
  /** Index members whose expiry is ≤ `untilMs` (all of them with Infinity), oldest first. */
  range(fromMs: number, untilMs: number, limit: number): Promise<readonly { taskId: string; principalHash: string }[]>;
}

/** A short-lived cross-replica lock (Redis `SET NX PX`): one issuer per lease. */
export interface LockStore {
  acquire(name: string, ttlMs: number): Promise<string | null>;
  release(name: string, token: string): Promise<void>;
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
  readonly revocations: RevocationBus;
  readonly events: EventStream;
  /** Rejects when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
