import { type FSWatcher, watch } from 'node:fs';

/** Stops a directory watch. */
export type StopWatching = () => void;

/**
 * Call `onChange` once a burst of changes under `dir` has been quiet for `debounceMs` (editors write a file in
 * several steps; reloading on each step would reject half-written sets).
 */
export function watchDirectory(dir: string, debounceMs: number, onChange: () => void): StopWatching {
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
    timer.unref();
  };
  const watcher: FSWatcher = watch(dir, { recursive: true, persistent: false }, fire);
  // A watch error (the directory removed) must not crash the gateway: the last good set stays enforced.
  watcher.on('error', () => undefined);
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    watcher.close();
  };
}
