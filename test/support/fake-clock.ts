import type { ReleaseClock } from '../../gateway/scrub/deadlines.js';

/** A ReleaseClock whose time moves only when a test says so; timers fire in deadline order during `advance`. */
export class FakeClock implements ReleaseClock {
  #now = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #nextId = 1;

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.push({ at: this.#now + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Move time forward by `ms`, firing every timer due on the way (and any they set that fall due too). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = end;
  }

  get pending(): number {
    return this.#timers.length;
  }
}
