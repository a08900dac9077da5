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
import { ScrubStream } from '../proxy/scrub.js';
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

/** A body with a content encoding is decoded so it can be scrubbed (no gzip bypass); unknown encodings fail. */
function bodySink(
  res: ServerResponse,
  headers: Record<string, string | string[]>,
  needles: readonly Buffer[],
): Writable {
  const encoding = String(headers['content-encoding'] ?? 'identity')
    .toLowerCase()
    .trim();
  if (encoding === 'identity') return new ScrubSink(res, needles);
  const scrubber = new ScrubStream(needles);
  const onDone = () => {};
  const decoder = DECODERS[encoding];
  if (!decoder) throw new EscrowError('upstream_error', 'the upstream used a content encoding Escrow cannot scrub');
  const stream = decoder();
  pipeline(stream, scrubber, res, onDone);
  return stream;
}

/** Stages 7 and 8: forward with undici (streaming both ways) and scrub the answer on its way back. */
export async function forwardAndScrub(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  request: Omit<ForwardRequest, 'signal'>,
  needles: readonly Buffer[],
  outcome: ForwardOutcome,
  abort: EventEmitter = new EventEmitter(),
): Promise<void> {
  // A bounded, timed wait for one of the target's connections (503 upstream_busy), whatever undici's pool state.
  const release = await target.slots.acquire((gone) => res.once('close', gone));
  try {
    await send(gw, res, target, request, needles, outcome, abort);
  } finally {
    release();
  }
}

async function send(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  request: Omit<ForwardRequest, 'signal'>,
  needles: readonly Buffer[],
  outcome: ForwardOutcome,
  abort: EventEmitter,
): Promise<void> {
  const breaker = breakerFor(target, gw.metrics);
  const ticket = breaker?.admit(); // throws while the target's circuit is open: nothing is sent
  // undici takes an EventEmitter as its abort signal: far cheaper per request than an AbortController. The caller
  // may emit on it too (a task closed while the request is in flight).
  const onClose = () => {
    if (!res.writableFinished) abort.emit('abort');
  };
  res.once('close', onClose);
  outcome.dispatchedAt = performance.now();
  try {
    await forward(target.pool, { ...request, signal: abort }, (status, upstream) => {
      outcome.status = status;
      const headers = finishResponseHeaders(responseHeaders(upstream, target.allowedResponseHeaders), target, needles);
      const noBody = request.method === 'HEAD' || status === 204 || status === 304;
      if (!noBody && headers['content-encoding'] !== undefined && headers['content-encoding'] !== 'identity') {
        delete headers['content-length'];
        const sink = bodySink(res, headers, needles);
        delete headers['content-encoding'];
        res.writeHead(status, headers);
        return sink;
      }
      res.writeHead(status, headers);
      return noBody ? res : bodySink(res, headers, needles);
    });
    if (breaker && ticket) breaker.settle(ticket, circuitOutcome({ status: outcome.status }));
  } catch (error) {
    const mapped = upstreamError(error);
    if (breaker && ticket) breaker.settle(ticket, circuitOutcome({ errorKind: mapped.kind }));
    if (!(error instanceof EscrowError)) {
      outcome.upstreamErrorKind = mapped.kind;
      gw.metrics.upstreamErrors.inc({ target: target.config.name, kind: mapped.kind });
    }
    throw mapped.error;
  } finally {
    res.off('close', onClose);
  }
}
