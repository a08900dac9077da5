/** What the registry needs of a live response: to cut it, and to hear that it ended. */
export interface LiveResponse {
  destroy(): unknown;
  once(event: 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
}

export type CutReason = 'task_closed' | 'task_expired';

interface Entry {
  readonly res: LiveResponse;
  readonly timer: NodeJS.Timeout | undefined;
}

/**
 * The MCP responses in flight on this replica (GET streams, SSE answers, anything not yet finished), by task. A task
 * closed on any replica reaches every replica as a revocation notice (`task:<id>`, or `*` for all): its responses are
 * cut at once; a task's expiry cuts them by timer. Owned by the gateway (no module state).
 *
 * Issue #15 adds a live-connection registry for every protocol; once it is merged this one can hand its work to it.
 */
export class LiveStreams {
  readonly #byTask = new Map<string, Map<LiveResponse, Entry>>();
  readonly #now: () => number;
  readonly #onCut: (reason: CutReason) => void;

  constructor(now: () => number, onCut: (reason: CutReason) => void = () => {}) {
    this.#now = now;
    this.#onCut = onCut;
  }

  /** Track `res` until it closes. `expiresAt` (epoch ms) cuts it when the task expires; undefined: no timer. */
  add(taskId: string, res: LiveResponse, expiresAt: number | undefined): void {
    if (res.destroyed) return;
    let entries = this.#byTask.get(taskId);
    if (entries === undefined) {
      entries = new Map();
      this.#byTask.set(taskId, entries);
    }
    const delay = expiresAt === undefined ? undefined : Math.max(0, expiresAt - this.#now());
    const timer =
      delay === undefined
        ? undefined
        : setTimeout(() => this.#cut(taskId, res, 'task_expired'), Math.min(delay, 2 ** 31 - 1));
    timer?.unref();
    entries.set(res, { res, timer });
    res.once('close', () => this.#forget(taskId, res));
  }

  /** A revocation notice: `task:<id>` cuts that task's responses, `*` every response. */
  onNotice(message: string): void {
    if (message === '*') {
      for (const taskId of [...this.#byTask.keys()]) this.cutTask(taskId);
    } else if (message.startsWith('task:')) {
      this.cutTask(message.slice(5));
    }
  }

  cutTask(taskId: string, reason: CutReason = 'task_closed'): void {
    for (const res of [...(this.#byTask.get(taskId)?.keys() ?? [])]) this.#cut(taskId, res, reason);
  }

  /** Responses tracked now, of one task or of all (for tests and debugging). */
  count(taskId?: string): number {
    if (taskId !== undefined) return this.#byTask.get(taskId)?.size ?? 0;
    let n = 0;
    for (const entries of this.#byTask.values()) n += entries.size;
    return n;
  }

  #cut(taskId: string, res: LiveResponse, reason: CutReason): void {
    if (!this.#forget(taskId, res)) return;
    this.#onCut(reason);
    res.destroy();
  }

  #forget(taskId: string, res: LiveResponse): boolean {
    const entries = this.#byTask.get(taskId);
    const entry = entries?.get(res);
    if (entries === undefined || entry === undefined) return false;
    clearTimeout(entry.timer);
    entries.delete(res);
    if (entries.size === 0) this.#byTask.delete(taskId);
    return true;
  }
}
