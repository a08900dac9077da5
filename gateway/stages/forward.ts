import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { pipeline, type Transform, type Writable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { responseHeaders } from '../http/headers.js';
import { breakerFor, circuitOutcome } from '../proxy/breaker.js';
import { type ForwardRequest, forward, upstreamError } from '../proxy/forward.js';
import { StreamScrubber } from '../scrub/stream.js';
import type { TargetRuntime } from '../targets.js';
import { finishResponseHeaders } from './response.js';
import { ScrubSink } from './scrub-sink.js';

/** A protocol's look at the answer before it is scrubbed (MCP filters list answers: gateway/mcp/respond.ts). */
export interface ResponseHook {
  responseFilter(head: { status: number; headers: Record<string, string | string[]> }): ResponseFilter | undefined;
}

export interface ResponseFilter {
  readonly transform: Transform;
  /** Send the head only with the first bytes the filter lets through (it may still refuse the answer with a 502). */
  readonly holdHead: boolean;
}

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

/** The decompressed-size bound when a target sets no `limits.maxResponseBytes` (docs/configuration.md). */
export const DEFAULT_MAX_DECODED_BYTES = 64 * 1024 * 1024;

/**
 * Where the body goes: a ScrubSink writing into `res`. An encoded body is decoded first so it can be scrubbed
 * (no gzip bypass), sent identity-encoded, bounded by `maxResponseBytes` once decoded (a 300 KB bomb must not
 * become 300 MB for the agent), and its head is sent with the first released bytes, so a body that is refused
 * before then still gets a 502 problem. Unknown encodings fail. A protocol's `filter` (MCP) sees the decoded body
 * before the scrubber, also with a lazily sent head. The `onError` hook sees a decoded or filtered body's failure.
 */
function bodySink(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  head: { status: number; headers: Record<string, string | string[]> },
  onError: (error: Error) => void,
  filter: ResponseFilter | undefined,
): { writable: Writable; done?: Promise<void> } {
  const { headers } = head;
  const encoding = String(headers['content-encoding'] ?? 'identity')
    .toLowerCase()
    .trim();
  const contentType = String(headers['content-type'] ?? '').toLowerCase();
  const options = {
    scrubber: new StreamScrubber(gw.secrets.index, { sse: contentType.startsWith('text/event-stream') }),
    flushAfterMs: target.config.scrub.flushAfterMs,
  };
  if (encoding === 'identity' && filter === undefined) {
    res.writeHead(head.status, headers);
    return { writable: new ScrubSink(res, options) };
  }
  const decoder = encoding === 'identity' ? undefined : DECODERS[encoding];
  if (encoding !== 'identity' && !decoder) {
    throw new EscrowError('upstream_error', 'the upstream used a content encoding Escrow cannot scrub');
  }
  delete headers['content-length'];
  if (decoder) delete headers['content-encoding'];
  const holdHead = decoder !== undefined || filter?.holdHead === true;
  if (!holdHead) res.writeHead(head.status, headers).flushHeaders(); // a stream the agent should see open now
  const sink = new ScrubSink(res, {
    ...options,
    ...(decoder ? { maxBytes: target.config.limits.maxResponseBytes ?? DEFAULT_MAX_DECODED_BYTES } : {}),
    ...(holdHead ? { head: () => res.writeHead(head.status, headers) } : {}),
    onRefused: onError,
  });
  const stages: Writable[] = [...(decoder ? [decoder()] : []), ...(filter ? [filter.transform] : [])];
  // undici is done once the first stage took the last upstream byte; the response is done when the sink is.
  const done = new Promise<void>((resolve, reject) =>
    pipeline([...stages, sink] as unknown as [NodeJS.ReadableStream, Writable], (error) => {
      if (!error) return resolve();
      onError(error);
      reject(error);
    }),
  );
  done.catch(() => {}); // also awaited by forwardAndScrub, unless undici failed first
  return { writable: stages[0]!, done };
}

/** Stages 7 and 8: forward with undici (streaming both ways) and scrub the answer on its way back. */
export async function forwardAndScrub(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  request: Omit<ForwardRequest, 'signal'>,
  outcome: ForwardOutcome,
  hook?: ResponseHook,
): Promise<void> {
  const breaker = breakerFor(target, gw.metrics);
  const ticket = breaker?.admit(); // throws while the target's circuit is open: nothing is sent
  // undici takes an EventEmitter as its abort signal: far cheaper per request than an AbortController.
  const abort = new EventEmitter();
  const onClose = () => {
    if (!res.writableFinished) abort.emit('abort');
  };
  // A decoded body's own failure (too large, corrupt), which undici may report as a plain abort.
  let bodyError: Error | undefined;
  let bodyDone: Promise<void> | undefined;
  res.once('close', onClose);
  outcome.dispatchedAt = performance.now();
  try {
    await forward(target.pool, { ...request, signal: abort }, (status, upstream) => {
      outcome.status = status;
      const index = gw.secrets.index;
      const headers = finishResponseHeaders(responseHeaders(upstream, target.allowedResponseHeaders), target, index);
      const filter = hook?.responseFilter({ status, headers });
      const noBody = request.method === 'HEAD' || status === 204 || status === 304;
      if (noBody) {
        res.writeHead(status, headers);
        return res;
      }
      const sink = bodySink(
        gw,
        res,
        target,
        { status, headers },
        (error) => {
          bodyError ??= error;
        },
        filter,
      );
      bodyDone = sink.done;
      return sink.writable;
    });
    await bodyDone;
    if (breaker && ticket) breaker.settle(ticket, circuitOutcome({ status: outcome.status }));
  } catch (thrown) {
    const error = bodyError instanceof EscrowError ? bodyError : thrown;
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
