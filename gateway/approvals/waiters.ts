/** The longest long-poll (`?wait=`): below the proxy's request timeout and common load-balancer idle timeouts. */
export const MAX_WAIT_MS = 60_000;

/**
 * `?wait=30s` (also `30`, `500ms`, `1m`) as milliseconds, capped at MAX_WAIT_MS; 0 when absent. Throws a
 * RangeError for anything else (the caller answers 400).
 */
export function parseWait(query: string): number {
  const value = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query).get('wait');
  if (value === null) return 0;
  const match = /^(\d{1,6})(ms|s|m)?$/.exec(value);
  if (!match) throw new RangeError('wait must be a duration such as 30s, 500ms or 1m');
  const scale = match[2] === 'ms' ? 1 : match[2] === 'm' ? 60_000 : 1_000;
  return Math.min(Number(match[1]) * scale, MAX_WAIT_MS);
}

/**
 * Long-polls waiting for an approval's or a task's state to change. A waiter is registered before the state is
 * read, so a change between the read and the wait cannot be missed; notices (this replica's own, and other
 * replicas' over the revocation channel) wake it; its own timer ends it. Bounded: past `max` waiters, `wait`
 * returns at once and the caller answers with the state it has.
 */
export class Waiters {
  readonly #byKey = new Map<string, Set<() => void>>();
  readonly #max: number;
  #count = 0;

  constructor(max = 10_000) {
    this.#max = max;
  }

  /**
   * Register for `keys`. `wait(ms)` resolves on a notice for any of them or after `ms`; a notice that came since
   * the last `wait` (while the caller was reading the state) makes the next `wait` return at once. Always call
   * `done()`.
   */
  register(keys: readonly string[]): { wait(ms: number): Promise<void>; done(): void } {
    let signalled = false;
    let current: (() => void) | undefined;
    const wake = () => {
      signalled = true;
      current?.();
    };
    const accepted = this.#count < this.#max;
    if (accepted) {
      this.#count++;
      for (const key of keys) {
        const set = this.#byKey.get(key) ?? new Set();
        this.#byKey.set(key, set.add(wake));
      }
    }
    return {
      wait: (ms) => {
        if (!accepted || ms <= 0) return Promise.resolve();
        if (signalled) {
          signalled = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const finish = () => {
            clearTimeout(timer);
            current = undefined;
            signalled = false;
            resolve();
          };
          const timer = setTimeout(finish, ms);
          current = finish;
        });
      },
      done: () => {
        current?.();
        if (!accepted) return;
        this.#count--;
        for (const key of keys) {
          const set = this.#byKey.get(key);
          set?.delete(wake);
          if (set?.size === 0) this.#byKey.delete(key);
        }
      },
    };
  }

  /** Wake every waiter on `key`. */
  notify(key: string): void {
    for (const wake of this.#byKey.get(key) ?? []) wake();
  }

  /** Wake everyone (a `*` notice, or shutdown). */
  notifyAll(): void {
    for (const set of this.#byKey.values()) for (const wake of set) wake();
  }

  get size(): number {
    return this.#count;
  }
}
