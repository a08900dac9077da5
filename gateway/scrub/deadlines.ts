/** Time as the release rule sees it; tests pass a controllable one. */
export interface ReleaseClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: ReleaseClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * The time half of the release rule: every byte leaves at most `flushAfterMs` after it arrived, even when no
 * more bytes come to push it out of the window (a server-sent event, a WebSocket reply, a slow chunked body).
 * Only arrival times and offsets go in, so when a release happens never depends on what the bytes are.
 */
export class DeadlineQueue {
  readonly #clock: ReleaseClock;
  readonly #afterMs: number;
  readonly #onDue: (upTo: number) => void;
  /** Pairs of (deadline, end offset of the chunk that arrived then), oldest first. */
  #queue: number[] = [];
  #timer: unknown;

  constructor(clock: ReleaseClock, flushAfterMs: number, onDue: (upTo: number) => void) {
    this.#clock = clock;
    this.#afterMs = flushAfterMs;
    this.#onDue = onDue;
  }

  /** Bytes up to `end` arrived now; `released` is how far the stream has already been released. */
  arrived(end: number, released: number): void {
    this.#drop(released);
    if (end <= released) return;
    this.#queue.push(this.#clock.now() + this.#afterMs, end);
    if (this.#timer === undefined) this.#arm();
  }

  cancel(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }

  #drop(released: number): void {
    let i = 0;
    while (i < this.#queue.length && this.#queue[i + 1]! <= released) i += 2;
    if (i > 0) this.#queue = this.#queue.slice(i);
  }

  #arm(): void {
    const deadline = this.#queue[0];
    if (deadline === undefined) return;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, deadline - this.#clock.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    let upTo = -1;
    let i = 0;
    while (i < this.#queue.length && this.#queue[i]! <= now) {
      upTo = this.#queue[i + 1]!;
      i += 2;
    }
    this.#queue = this.#queue.slice(i);
    if (upTo >= 0) this.#onDue(upTo);
    this.#arm();
  }
}

/** Where a stream stands: how much arrived, and how far its window lets it be released now. */
export interface ReleaseOffsets {
  readonly received: number;
  readonly due: number;
}

/** The deadline queue of a stream released with a window of `flushAfterMs`, or none when there is no window (0). */
export function deadlinesFor(
  options: { readonly flushAfterMs: number; readonly clock?: ReleaseClock },
  onDue: (upTo: number) => void,
): DeadlineQueue | undefined {
  return options.flushAfterMs > 0
    ? new DeadlineQueue(options.clock ?? systemClock, options.flushAfterMs, onDue)
    : undefined;
}

/**
 * The release rule at a chunk's arrival, once the scrubber took it: how far to release now (all but the window, or
 * everything with no window), with the chunk's deadline queued for the bytes held back.
 */
export function releaseOnArrival(stream: ReleaseOffsets, deadlines: DeadlineQueue | undefined): number {
  const upTo = deadlines ? stream.due : stream.received;
  deadlines?.arrived(stream.received, upTo);
  return upTo;
}
