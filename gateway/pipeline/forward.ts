import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { requireScrubbableFraming, responseHeaders } from '../http/headers.js';
import { type CircuitTicket, circuitOutcome } from '../proxy/breaker.js';
import {
  type AbortHook,
  type BodyTarget,
  type ForwardRequest,
  forward,
  type HeadTaker,
  upstreamError,
} from '../proxy/forward.js';
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
  /** Called once when the forward is over, whatever its outcome. */
  readonly done: () => void;
}

/**
 * Stage 7: forward with undici (streaming both ways), asking the target's circuit breaker first; the answer goes
 * back through stage 8 (pipeline/scrub.ts) as it streams. `onFinal` is awaited before the answer's last byte goes
 * out (the request's audit event); if it rejects, the answer is cut. `call.done` runs once the forward is over,
 * however it ended (the injected needles are unpinned then).
 */
export async function forwardAndScrub(call: ForwardCall): Promise<void> {
  const { gw, res, target, outcome, abort } = call;
  let release: (() => void) | undefined;
  let ticket: CircuitTicket | undefined;
  let forwarding: Forwarding | undefined;
  // The agent went away before its answer was whole: the upstream request stops.
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  try {
    // A bounded, timed wait for one of the target's connections (503 upstream_busy), whatever undici's pool state;
    // no wait at all (no promise) when one is free.
    release = target.slots.tryAcquire() ?? (await target.slots.acquire((gone) => res.once('close', gone)));
    if (res.writableEnded || res.destroyed) {
      // Cut (the task closed) or abandoned while it waited for a connection: it is never sent.
      throw new EscrowError('client_closed', 'the answer ended before the request was sent');
    }
    const pool = target.pool;
    if (!pool) throw new EscrowError('unknown_target', 'no such target'); // a postgres target: no HTTP upstream
    ticket = target.breaker?.admit(); // throws while the target's circuit is open: nothing is sent
    res.on('close', onClose);
    outcome.dispatchedAt = performance.now();
    forwarding = new Forwarding(call);
    await forward(pool, call.request, abort, forwarding);
    if (forwarding.bodyDone) await forwarding.bodyDone;
    if (ticket) target.breaker!.settle(ticket, circuitOutcome({ status: outcome.status }));
  } catch (thrown) {
    if (forwarding === undefined) throw thrown; // nothing was sent
    const bodyError = forwarding.bodyError;
    const error = bodyError instanceof EscrowError ? bodyError : thrown;
    const audit = isAuditFailure(error);
    const mapped = upstreamError(error);
    // The upstream answered; only the audit trail failed: that is no upstream failure for the breaker.
    if (ticket) {
      const result = circuitOutcome(audit ? { status: outcome.status } : { errorKind: mapped.kind });
      target.breaker!.settle(ticket, result);
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
    release?.();
    call.done();
  }
}

/** One forward in flight: undici's handler gives it the answer's head (`head`), and it says where the body goes. */
class Forwarding implements HeadTaker {
  readonly #call: ForwardCall;
  /** A decoded body's own failure (too large, corrupt), which undici may report as a plain abort. */
  bodyError: Error | undefined;
  /** Settles when a decoded or filtered body is through its pipeline (undefined for a body without one). */
  bodyDone: Promise<void> | undefined;

  constructor(call: ForwardCall) {
    this.#call = call;
  }

  head(status: number, upstream: Record<string, string | string[] | undefined>): BodyTarget {
    const { gw, res, target, request, outcome, onFinal, hook } = this.#call;
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
    const sink = bodySink(gw, res, target, { status, headers }, this, onFinal, filter);
    this.bodyDone = sink.done;
    return sink.target;
  }

  /** A decoded or filtered body failed (bodySink's `onError`): the first failure is the one reported. */
  failed(error: Error): void {
    this.bodyError ??= error;
  }
}
