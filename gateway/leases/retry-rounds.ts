/**
 * Store work that failed, retried in rounds every `intervalMs`: one item at a time, and the first failure ends the
 * round (the store is still unreachable: no point sending the rest). An item leaves once its attempt resolves.
 * A store that is down thus costs one failing command per round, however many items wait.
 */
export class RetryRounds {
  readonly #items = new Map<string, () => Promise<unknown>>();
  readonly #intervalMs: number;
  readonly #max: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(intervalMs: number, max: number) {
    this.#intervalMs = intervalMs;
    this.#max = max;
  }

  /** Retry `attempt` under `key` (replacing an earlier one) until it resolves. False when full. */
  add(key: string, attempt: () => Promise<unknown>): boolean {
    if (this.#items.size >= this.#max && !this.#items.has(key)) return false;
    this.#items.set(key, attempt);
    this.#schedule();
    return true;
  }

  get size(): number {
    return this.#items.size;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#round();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    for (const [key, attempt] of [...this.#items]) {
      try {
        await attempt();
        if (this.#items.get(key) === attempt) this.#items.delete(key);
      } catch {
        this.#schedule();
        return;
      }
    }
  }
}
