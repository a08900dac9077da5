import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { requireScrubbableFraming, responseHeaders } from '../http/headers.js';
import { circuitOutcome } from '../proxy/breaker.js';
import { type AbortHook, type ForwardRequest, forward, upstreamError } from '../proxy/forward.js';
import { StreamScrubber } from '../scrub/stream.js';
import type { TargetRuntime } from '../targets.js';
import { ScrubRelease } from './lib/scrub-sink.js';
import { bodySink, finishResponseHeaders, type ResponseHook } from './scrub.js';

const isAuditFailure = (error: unknown) => error instanceof EscrowError && error.code === 'audit_unavailable';

export interface ForwardOutcome {
  status?: number;
  dispatchedAt?: number;
  upstreamErrorKind?: string;
}

/** One forward: where the answer goes, to which target, what is sent, and the exchange's hooks. */
export interface ForwardCall {
  readonly gw: Gateway;
  readonly res: ServerResponse;
  readonly target: TargetRuntime;
  readonly request: ForwardRequest;
  /** Filled in: the upstream's status, when it was dispatched, how it failed. */
  readonly outcome: ForwardOutcome;
  /** Stops the upstream request (the caller may fire it too: a task closed while the request is in flight). */
  readonly abort: AbortHook;
  /** Awaited before the answer's last byte goes out (the request's audit event); if it rejects, the answer is cut. */
  readonly onFinal: () => Promise<void>;
  /** A protocol's look at the answer (MCP), if any. */
  readonly hook: ResponseHook | undefined;
}

/**
 * Stage 7: forward with undici (streaming both ways), asking the target's circuit breaker first; the answer goes
 * back through stage 8 (pipeline/scrub.ts) as it streams. `onFinal` is awaited before the answer's last byte goes
 * out (the request's audit event); if it rejects, the answer is cut.
 */
export async function forwardAndScrub(call: ForwardCall): Promise<void> {
  const { res, target } = call;
  // A bounded, timed wait for one of the target's connections (503 upstream_busy), whatever undici's pool state.
  const release = await target.slots.acquire((gone) => res.once('close', gone));
  if (res.writableEnded || res.destroyed) {
    // Cut (the task closed) or abandoned while it waited for a connection: it is never sent.
    release();
    throw new EscrowError('client_closed', 'the answer ended before the request was sent');
  }
  try {
    await send(call);
  } finally {
    release();
  }
}

async function send({ gw, res, target, request, outcome, abort, onFinal, hook }: ForwardCall): Promise<void> {
  const pool = target.pool;
  if (!pool) throw new EscrowError('unknown_target', 'no such target'); // a postgres target: no HTTP upstream
  const breaker = target.breaker;
  const ticket = breaker?.admit(); // throws while the target's circuit is open: nothing is sent
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  // A decoded body's own failure (too large, corrupt), which undici may report as a plain abort.
  let bodyError: Error | undefined;
  let bodyDone: Promise<void> | undefined;
  res.once('close', onClose);
  outcome.dispatchedAt = performance.now();
  try {
    await forward(pool, request, abort, (status, upstream) => {
      outcome.status = status;
      requireScrubbableFraming(upstream);
      const index = gw.secrets.index;
      const headers = finishResponseHeaders(responseHeaders(upstream, target.allowedResponseHeaders), target, index);
      const filter = hook?.responseFilter({ status, headers });
      const noBody = request.method === 'HEAD' || status === 204 || status === 304;
      if (noBody) {
        res.writeHead(status, headers);
        return new ScrubRelease(res, { scrubber: new StreamScrubber(index), flushAfterMs: 0, onFinal });
      }
      const sink = bodySink(
        gw,
        res,
        target,
        { status, headers },
        (error) => {
          bodyError ??= error;
        },
        onFinal,
        filter,
      );
      bodyDone = sink.done;
      return sink.target;
    });
    await bodyDone;
    if (breaker && ticket) breaker.settle(ticket, circuitOutcome({ status: outcome.status }));
  } catch (thrown) {
    const error = bodyError instanceof EscrowError ? bodyError : thrown;
    const audit = isAuditFailure(error);
    const mapped = upstreamError(error);
    // The upstream answered; only the audit trail failed: that is no upstream failure for the breaker.
    if (breaker && ticket) {
      breaker.settle(ticket, circuitOutcome(audit ? { status: outcome.status } : { errorKind: mapped.kind }));
    }
    if (!(error instanceof EscrowError)) {
      outcome.upstreamErrorKind = mapped.kind;
      gw.metrics.upstreamErrors.inc({ target: target.config.name, kind: mapped.kind });
    }
    // Aborted: the agent went away (its 'close' aborted the upstream request) before its answer completed.
    if (mapped.kind === 'aborted' && !audit) {
      throw new EscrowError('client_closed', 'the agent closed the connection', { cause: error });
    }
    throw mapped.error;
  } finally {
    res.off('close', onClose);
  }
}
