import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { pipeline, type Writable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { responseHeaders } from '../http/headers.js';
import { breakerFor, circuitOutcome } from '../proxy/breaker.js';
import { type ForwardRequest, forward, upstreamError } from '../proxy/forward.js';
import type { TargetRuntime } from '../targets.js';
import { finishResponseHeaders } from './response.js';
import { ScrubSink } from './scrub-sink.js';

export interface ForwardOutcome {
  status?: number;
  dispatchedAt?: number;
  upstreamErrorKind?: string;
}

const DECODERS: Record<string, () => Writable & NodeJS.ReadableStream> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

const isAuditFailure = (error: unknown) => error instanceof EscrowError && error.code === 'audit_unavailable';

/** Where the body goes, and (for a decoded body) when the whole of it has gone. */
interface BodySink {
  readonly sink: Writable;
  readonly done?: Promise<void>;
}

/**
 * A body with a content encoding is decoded so it can be scrubbed (no gzip bypass); unknown encodings fail. The
 * answer ends only after `onFinal` resolves (the audit log's group commit), whatever the encoding.
 */
function bodySink(
  res: ServerResponse,
  headers: Record<string, string | string[]>,
  needles: readonly Buffer[],
  onFinal: (() => Promise<void>) | undefined,
): BodySink {
  const encoding = String(headers['content-encoding'] ?? 'identity')
    .toLowerCase()
    .trim();
  if (encoding === 'identity') {
    const length = headers['content-length'];
    const contentLength = typeof length === 'string' && /^\d+$/.test(length) ? Number(length) : undefined;
    return { sink: new ScrubSink(res, needles, { onFinal, contentLength }) };
  }
  const decoder = DECODERS[encoding];
  if (!decoder) throw new EscrowError('upstream_error', 'the upstream used a content encoding Escrow cannot scrub');
  const stream = decoder();
  const done = new Promise<void>((resolve, reject) => {
    pipeline(stream, new ScrubSink(res, needles, { onFinal }), (error) => (error ? reject(error) : resolve()));
  });
  done.catch(() => {}); // awaited by forwardAndScrub once undici is done; a failure also shows in forward's result
  return { sink: stream, done };
}

/**
 * Stages 7 and 8: forward with undici (streaming both ways) and scrub the answer on its way back. `onFinal` is
 * awaited before the answer's last byte goes out (the request's audit event); if it rejects, the answer is cut.
 */
export async function forwardAndScrub(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  request: Omit<ForwardRequest, 'signal'>,
  needles: readonly Buffer[],
  outcome: ForwardOutcome,
  onFinal?: () => Promise<void>,
): Promise<void> {
  const breaker = breakerFor(target, gw.metrics);
  const ticket = breaker?.admit(); // throws while the target's circuit is open: nothing is sent
  // undici takes an EventEmitter as its abort signal: far cheaper per request than an AbortController.
  const abort = new EventEmitter();
  const onClose = () => {
    if (!res.writableFinished) abort.emit('abort');
  };
  res.once('close', onClose);
  outcome.dispatchedAt = performance.now();
  let decoded: Promise<void> | undefined;
  try {
    await forward(target.pool, { ...request, signal: abort }, (status, upstream) => {
      outcome.status = status;
      const headers = finishResponseHeaders(responseHeaders(upstream, target.allowedResponseHeaders), target, needles);
      const noBody = request.method === 'HEAD' || status === 204 || status === 304;
      if (!noBody && headers['content-encoding'] !== undefined && headers['content-encoding'] !== 'identity') {
        delete headers['content-length'];
        const body = bodySink(res, headers, needles, onFinal);
        delete headers['content-encoding'];
        res.writeHead(status, headers);
        decoded = body.done;
        return body.sink;
      }
      res.writeHead(status, headers);
      if (noBody) return onFinal ? new ScrubSink(res, [], { onFinal }) : res;
      return bodySink(res, headers, needles, onFinal).sink;
    });
    // A decoded body ends after undici is done with the decoder: wait for it. Only an audit failure matters here
    // (the agent going away shows as before, through the abort signal).
    await decoded?.catch((error: unknown) => {
      if (isAuditFailure(error)) throw error;
    });
    if (breaker && ticket) breaker.settle(ticket, circuitOutcome({ status: outcome.status }));
  } catch (error) {
    const audit = isAuditFailure(error);
    const mapped = upstreamError(error);
    // The upstream answered; only the audit trail failed: that is no upstream failure for the breaker.
    if (breaker && ticket)
      breaker.settle(ticket, circuitOutcome(audit ? { status: outcome.status } : { errorKind: mapped.kind }));
    if (!(error instanceof EscrowError)) {
      outcome.upstreamErrorKind = mapped.kind;
      gw.metrics.upstreamErrors.inc({ target: target.config.name, kind: mapped.kind });
    }
    throw mapped.error;
  } finally {
    res.off('close', onClose);
  }
}
