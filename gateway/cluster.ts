import cluster, { type Worker } from 'node:cluster';
import { serveClusterMetrics } from './cluster-metrics.js';
import type { Logger } from './log.js';

export interface ClusterOptions {
  /** How many workers to keep running. Each runs the normal start path and shares the listeners' ports. */
  readonly workers: number;
  readonly log: Logger;
  /** First restart delay after a crash; doubles per consecutive crash of the same slot, up to `backoffMaxMs`. */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** A worker that ran this long before exiting counts as healthy: its slot's backoff starts over. */
  readonly stableAfterMs?: number;
  /** A slot whose worker dies this many times in a row before it ever listened gives up: the primary stops. */
  readonly maxStartFailures?: number;
  /** After SIGTERM, how long workers get to drain before they are killed (their own drain deadline is 10 s). */
  readonly drainTimeoutMs?: number;
}

interface Slot {
  readonly index: number;
  worker?: Worker;
  startedAt: number;
  listened: boolean;
  crashes: number;
  startFailures: number;
  timer?: NodeJS.Timeout;
}

/** Exponential backoff: `initial × 2^(crashes−1)`, capped. */
export function restartDelay(crashes: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, crashes - 1));
}

/**
 * The primary of `escrow start --workers N`: forks N workers (each loads the config and serves the same ports;
 * node:cluster hands them connections), restarts a crashed worker with backoff, forwards SIGHUP (policy reload)
 * to every worker, and on SIGTERM/SIGINT stops restarting and lets every worker drain. Resolves with the exit code.
 */
export function runPrimary(options: ClusterOptions): Promise<number> {
  const initial = options.backoffInitialMs ?? 500;
  const max = options.backoffMaxMs ?? 30_000;
  const stableAfter = options.stableAfterMs ?? 30_000;
  const maxStartFailures = options.maxStartFailures ?? 5;
  const { log } = options;
  const slots: Slot[] = Array.from({ length: options.workers }, (_, index) => ({
    index,
    startedAt: 0,
    listened: false,
    crashes: 0,
    startFailures: 0,
  }));
  let stopping = false;
  let exitCode = 0;
  let finish: () => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = () => resolve(exitCode);
  });

  const fork = (slot: Slot) => {
    slot.timer = undefined;
    slot.startedAt = Date.now();
    slot.listened = false;
    const worker = cluster.fork({ ESCROW_WORKER_INDEX: String(slot.index) });
    slot.worker = worker;
    worker.once('listening', () => {
      slot.listened = true;
      slot.startFailures = 0;
    });
    worker.once('exit', (code, signal) => onExit(slot, worker, code, signal));
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    if (stopping) {
      if (slots.every((s) => s.worker === undefined)) finish();
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.crashes = lived >= stableAfter ? 1 : slot.crashes + 1;
    slot.startFailures = slot.listened ? 0 : slot.startFailures + 1;
    if (slot.startFailures >= maxStartFailures) {
      log.error({ worker: slot.index, code, signal }, 'worker failed to start repeatedly: stopping');
      stop('start failures', 1);
      return;
    }
    const delay = restartDelay(slot.crashes, initial, max);
    log.warn({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker exited');
    slot.timer = setTimeout(() => fork(slot), delay);
  };

  const stop = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason, workers: slots.filter((s) => s.worker).length }, 'draining workers');
    for (const slot of slots) if (slot.timer) clearTimeout(slot.timer);
    const alive = slots.filter((s) => s.worker !== undefined);
    if (alive.length === 0) finish();
    for (const slot of alive) slot.worker?.process.kill('SIGTERM');
    setTimeout(() => {
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
      finish();
    }, options.drainTimeoutMs ?? 15_000).unref();
  };

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    for (const slot of slots) slot.worker?.process.kill('SIGHUP');
  });
  serveClusterMetrics();
  for (const slot of slots) fork(slot);
  log.info({ workers: options.workers, pid: process.pid }, 'escrow primary started');
  return done;
}
