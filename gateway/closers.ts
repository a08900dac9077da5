/**
 * What a start-up has opened so far, closed last first. Start-up opens Redis connections, timers, watchers and
 * sockets one after another; when a later step fails (a bad credential, an unreadable key set, a busy port) the
 * ones already open would keep the event loop alive, and the process would print its error and never exit.
 * The same list closes a running gateway on shutdown, so the two orders cannot drift apart.
 */
export class Closers {
  readonly #stack: (() => unknown)[] = [];

  /** Remember how to close something that has just been opened. */
  add(close: () => unknown): void {
    this.#stack.push(close);
  }

  /**
   * Close everything added, the last first, each exactly once. A close that fails does not stop the others:
   * what is left open is what keeps a failed process from exiting. Resolves with the failures.
   */
  async closeAll(): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (let close = this.#stack.pop(); close !== undefined; close = this.#stack.pop()) {
      try {
        await close();
      } catch (error) {
        failures.push(error);
      }
    }
    return failures;
  }
}

/**
 * Run a start-up step that opens things into `closers`; if it throws, close what it opened and rethrow, so a
 * failed start leaves nothing behind that holds the process open.
 */
export async function openOrClose<T>(closers: Closers, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}
