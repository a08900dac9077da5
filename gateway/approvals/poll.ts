import { EscrowError } from '../errors.js';
import type { ApprovalService } from './service.js';
import { parseWait } from './waiters.js';

/** A long-poll re-reads at least this often, should a notice be missed (the revocation subscription down). */
const RECHECK_MS = 5_000;

/** One read of what a long-poll watches: the answer, whether it still waits, and when it expires if it does. */
export interface Polled {
  readonly body: Record<string, unknown>;
  readonly pending: boolean;
  readonly wakeAt?: number;
}

/**
 * Answer `read()` now, or, with `?wait=`, once it no longer says pending: woken by a notice on `keys` from any
 * replica, by its own expiry (to report it expired), or at the end of the wait. Null when there is nothing to
 * show (404). A bad `wait` is a 400.
 */
export async function longPoll(
  svc: ApprovalService,
  keys: readonly string[],
  query: string,
  read: () => Promise<Polled | null>,
): Promise<Record<string, unknown> | null> {
  let waitMs: number;
  try {
    waitMs = parseWait(query);
  } catch (error) {
    throw new EscrowError('bad_request', (error as Error).message);
  }
  const now = svc.o.now;
  const deadline = now() + waitMs;
  // Registered before the first read: a change between a read and the wait cannot be missed.
  const waiter = svc.waiters.register(keys);
  try {
    for (;;) {
      const polled = await read();
      const left = deadline - now();
      if (!polled?.pending || left <= 0) return polled?.body ?? null;
      const untilExpiry = polled.wakeAt === undefined ? left : Math.max(1, polled.wakeAt - now() + 1);
      await waiter.wait(Math.min(left, untilExpiry, RECHECK_MS));
    }
  } finally {
    waiter.done();
  }
}
