import type { Logger } from './log.js';

/** Run `work` every `ms` (0: never), one run at a time; a failure is logged and the next run tries again. */
export function every(
  ms: number,
  work: () => Promise<unknown>,
  log: Logger,
  failure: string,
): NodeJS.Timeout | undefined {
  if (ms <= 0) return undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    work()
      .catch((error: Error) => log.warn({ err: error.message }, failure))
      .finally(() => {
        running = false;
      });
  }, ms);
  timer.unref();
  return timer;
}
