import { ExpiringCache, type Invalidation, type InvalidationScope } from '../cache.js';
import { formatIssues } from '../config/issues.js';
import type { Config } from '../config/schema.js';
import { type Decision, type Principal, principalRef, samePrincipal, type Task, taskRef } from '../domain.js';
import { EscrowError } from '../errors.js';
import { RETAIN_MS } from '../leases/closing.js';
import type { Store } from '../store/types.js';
import { AMBIENT_ID } from './ambient.js';
import { newTaskId, openTaskBody, parseTask, principalHash, serializeTask, TASK_ID } from './model.js';

export interface TaskServiceOptions {
  readonly store: Store;
  readonly limits: Config['tasks'];
  readonly targetNames: ReadonlySet<string>;
  readonly now?: () => number;
  readonly cacheSize?: number;
  /**
   * The approval a new task waits for, when an `openTask` allow asked for a person (gateway/approvals/): the task
   * is then written `pending`, and holds no lease until a person approves it.
   */
  readonly approvalFor?: (decisions: readonly Decision[]) => string | undefined;
}

/** What policy sees of a task being opened. */
export interface TaskDraft {
  readonly intent: string;
  readonly targets: readonly string[];
  readonly depth: number;
}

export interface OpenedTask {
  readonly task: Task;
  readonly decisions: readonly Decision[];
}

/** Tasks: open (a child narrows its parent), look up (cached, invalidated by revocation notices). */
export class TaskService implements Invalidation {
  readonly #store: Store;
  readonly #limits: Config['tasks'];
  readonly #targets: ReadonlySet<string>;
  readonly #now: () => number;
  readonly #bodySchema;
  readonly #approvalFor: TaskServiceOptions['approvalFor'];
  readonly cache: ExpiringCache<Task>;

  constructor(options: TaskServiceOptions) {
    this.#store = options.store;
    this.#limits = options.limits;
    this.#targets = options.targetNames;
    this.#now = options.now ?? Date.now;
    this.#bodySchema = openTaskBody(options.limits.maxIntentLength, options.limits.maxTtlSeconds);
    this.#approvalFor = options.approvalFor;
    this.cache = new ExpiringCache<Task>(options.cacheSize ?? 10_000, this.#now);
  }

  /** A lease notice concerns no task: only `all` and `task` drop cached tasks. */
  invalidate(scope: InvalidationScope): void {
    if (scope.kind === 'all') this.cache.clear();
    else if (scope.kind === 'task') this.cache.delete(scope.taskId);
  }

  setTrusted(trusted: boolean): void {
    this.cache.setTrusted(trusted);
  }

  /**
   * Open a task for `principal`. `authorizeOpen` asks Cedar `openTask` for one target; any deny refuses the
   * whole task (403 with that decision's id).
   */
  async open(
    principal: Principal,
    body: unknown,
    authorizeOpen: (target: string, draft: TaskDraft) => Decision,
  ): Promise<OpenedTask> {
    const parsed = this.#bodySchema.safeParse(body);
    if (!parsed.success) throw new EscrowError('task_invalid', formatIssues(parsed.error.issues));
    const input = parsed.data;
    input.targets.forEach((name, i) => {
      if (!this.#targets.has(name)) throw new EscrowError('task_invalid', `targets[${i}]: unknown target "${name}"`);
    });
    const now = this.#now();
    const parent =
      input.parent === undefined ? undefined : await this.#parentFor(input.parent, principal, input.targets);
    const ttlMs = (input.ttlSeconds ?? this.#limits.defaultTtlSeconds) * 1000;
    const expiresAt = Math.min(now + ttlMs, parent?.expiresAt ?? Number.POSITIVE_INFINITY);
    const draft: TaskDraft = { intent: input.intent, targets: input.targets, depth: parent ? parent.depth + 1 : 0 };
    const decisions = input.targets.map((name) => authorizeOpen(name, draft));
    const denied = decisions.find((d) => d.decision !== 'allow');
    if (denied) {
      throw new EscrowError('policy_denied', 'policy does not allow opening a task on this target', {
        decisionId: denied.id,
      });
    }
    const approval = this.#approvalFor?.(decisions);
    const task: Task = {
      id: newTaskId(),
      principal: principalRef(principal),
      intent: input.intent,
      targets: input.targets,
      ...(parent ? { parent: parent.id } : {}),
      ancestors: parent ? taskRef(parent).chain : [],
      depth: draft.depth,
      openedAt: now,
      expiresAt,
      ...(approval === undefined ? {} : { approval }),
    };
    await this.#persist(task, principalHash(principal), now);
    return { task, decisions };
  }

  /** Take a slot under the open-task limit, write the record and index it; a step then checks its parent. */
  async #persist(task: Task, hash: string, now: number): Promise<void> {
    // The limit is one atomic step in the store (prune, count, add): it holds exactly across replicas.
    const max = this.#limits.maxOpenPerPrincipal;
    if (!(await this.#store.index.reserve(task.id, hash, task.expiresAt, now, max))) {
      throw new EscrowError('task_limit', `at most ${max} open tasks per principal`);
    }
    try {
      // The record outlives the task by RETAIN_MS, so that a close or a sweep after expiry still finds it.
      await this.#store.tasks.put(task.id, serializeTask(task), task.expiresAt - now + RETAIN_MS, task.parent);
      await this.#store.index.add(task.id, hash, task.expiresAt);
    } catch (error) {
      // Never handed out: give the slot back if the store lets us (else it frees itself at the task's expiry).
      this.#store.index.remove(task.id, hash).catch(() => {});
      throw error;
    }
    if (task.parent) await this.#confirmParent(task, hash);
  }

  /**
   * A parent closed while its step was being opened must not leave the step behind. Closing writes the parent's
   * tombstone and reads its child set in one atomic step, and the step joined that set before this check: either
   * the close saw the step (and closes it) or the parent's tombstone is visible here.
   */
  async #confirmParent(task: Task, hash: string): Promise<void> {
    const parent = await this.#store.tasks.read(task.parent!);
    if (parent !== null && parent.tombstone === null) return;
    await this.#store.tasks.delete(task.id);
    await this.#store.index.remove(task.id, hash);
    throw new EscrowError('task_invalid', 'parent: no such live task');
  }

  async #parentFor(parentId: string, principal: Principal, targets: readonly string[]): Promise<Task> {
    const parent = await this.get(parentId);
    // Another principal's task reads as absent: task ids are not an oracle.
    if (!parent || !samePrincipal(parent.principal, principal)) {
      throw new EscrowError('task_invalid', 'parent: no such live task');
    }
    if (parent.depth + 1 > this.#limits.maxDepth) {
      throw new EscrowError('task_invalid', `parent: tasks nest at most ${this.#limits.maxDepth} levels deep`);
    }
    const outside = targets.filter((t) => !parent.targets.includes(t));
    if (outside.length > 0) {
      throw new EscrowError(
        'task_invalid',
        `targets: a step may only narrow its parent (not in parent: ${outside.join(', ')})`,
      );
    }
    return parent;
  }

  /** A live task, or null when unknown, closed or expired. A cache miss reads the tombstone with the record. */
  async get(id: string): Promise<Task | null> {
    if (!TASK_ID.test(id)) return null;
    const now = this.#now();
    const cached = this.cache.get(id);
    if (cached) return cached;
    const generation = this.cache.generation;
    const entry = await this.#store.tasks.read(id);
    if (entry === null || entry.tombstone !== null) return null;
    const task = parseTask(entry.record);
    if (task.expiresAt <= now) return null;
    this.cache.set(id, task, task.expiresAt, generation);
    return task;
  }

  /**
   * The task as the store holds it, live, closed or expired (while its record is retained), never from the
   * cache: for closing, which must work on a task that is already closing, and answer 404 only for ids unknown.
   */
  async find(id: string): Promise<{ task: Task; closed: boolean } | null> {
    if (!TASK_ID.test(id) && !AMBIENT_ID.test(id)) return null;
    const entry = await this.#store.tasks.read(id);
    if (entry === null) return null;
    return { task: parseTask(entry.record), closed: entry.tombstone !== null };
  }

  /** The live task `id` as `principal` may use it for `target`; throws the matching 403 otherwise. */
  async forRequest(id: string, principal: Principal, target: string): Promise<Task> {
    return usableBy(await this.get(id), principal, target);
  }

  /**
   * `forRequest` at once when the task is in the cache (a map lookup, no promise; throws its 403s); undefined when
   * only the store can say.
   */
  cachedForRequest(id: string, principal: Principal, target: string): Task | undefined {
    if (!TASK_ID.test(id)) return undefined;
    const task = this.cache.get(id);
    return task === undefined ? undefined : usableBy(task, principal, target);
  }
}

/** The task as `principal` may use it for `target`, or the matching 403. */
function usableBy(task: Task | null, principal: Principal, target: string): Task {
  if (!task) throw new EscrowError('task_closed', 'the task is unknown, closed or expired');
  if (!samePrincipal(task.principal, principal)) {
    throw new EscrowError('task_forbidden', 'the task belongs to another principal');
  }
  if (!task.targets.includes(target)) throw new EscrowError('task_forbidden', 'the task does not list this target');
  return task;
}
