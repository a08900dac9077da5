import { randomBytes } from 'node:crypto';
import type { LockStore } from '../store/types.js';

const RELEASE_RETRY_MS = 100;

/**
 * Run `work` under the lock `name`, or resolve undefined at once if another holds it. The token is made here, so
 * the release (compare and delete) is sent on every path, including an acquire that failed or timed out: such an
 * acquire may still have run, and would otherwise hold the lock for its whole `ttlMs` (every other replica waiting
 * on it). A release that fails is retried in the background until the lock would have expired anyway.
 */
export async function underLock<T>(
  locks: LockStore,
  name: string,
  ttlMs: number,
  work: () => Promise<T>,
): Promise<T | undefined> {
  const token = randomBytes(12).toString('hex');
  let held: boolean;
  try {
    held = await locks.acquire(name, token, ttlMs);
  } catch (error) {
    void release(locks, name, token, ttlMs);
    throw error;
  }
  if (!held) return undefined;
  try {
    return await work();
  } finally {
    await release(locks, name, token, ttlMs);
  }
}

async function release(locks: LockStore, name: string, token: string, ttlMs: number): Promise<void> {
  const until = performance.now() + ttlMs;
  for (;;) {
    try {
      await locks.release(name, token);
      return;
    } catch {
      if (performance.now() + RELEASE_RETRY_MS > until) return;
      await new Promise((resolve) => setTimeout(resolve, RELEASE_RETRY_MS).unref());
    }
  }
}
