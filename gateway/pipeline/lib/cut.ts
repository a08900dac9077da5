import type { ServerResponse } from 'node:http';
import type { CutReason } from '../../connections.js';
import { EscrowError } from '../../errors.js';
import { sendProblem } from '../../http/respond.js';
import type { AbortHook } from '../../proxy/forward.js';

/** What a request in flight holds that a cut needs. */
export interface CutExchange {
  readonly requestId: string;
  cut?: CutReason;
  /** Stops the upstream request. */
  readonly abort: AbortHook;
}

/** The error a cut request is answered (or audited) with: 403 `task_closed`, `reason: cut_<why>`. */
export function cutError(reason: CutReason): EscrowError {
  const why = 'the task was closed or expired, or its leases revoked, while this request was in flight';
  return new EscrowError('task_closed', why, { reason: `cut_${reason}` });
}

/**
 * The task's close, expiry or a kill switch reached a request in flight: stop the upstream request, and answer
 * 403 if the answer has not begun; a response already streaming (SSE…) is cut, connection and all.
 */
export function cutRequest(res: ServerResponse, ex: CutExchange, reason: CutReason): void {
  ex.cut = reason;
  if (res.headersSent) {
    res.destroy(); // forwardAndScrub hears 'close' and aborts the upstream request
    return;
  }
  ex.abort.abort();
  sendProblem(res, cutError(reason), ex.requestId);
}
