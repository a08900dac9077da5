import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { pipeline, type Transform, type Writable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { requireScrubbableFraming, responseHeaders } from '../http/headers.js';
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

const isAuditFailure = (error: unknown) => error instanceof EscrowError && error.code === 'audit_unavailable';

/** A body's Content-Length as a number, when the upstream gave a plain one. */
function lengthOf(headers: Record<string, string | string[]>): number | undefined {
  const length = headers['content-length'];
  return typeof length === 'string' && /^\d+$/.test(length) ? Number(length) : undefined;
}

/**
 * Where the body goes: a ScrubSink writing into `res`. An encoded body is decoded first so it can be scrubbed
 * (no gzip bypass), sent identity-encoded, bounded by `maxResponseBytes` once decoded (a 300 KB bomb must not
 * become 300 MB for the agent), and its head is sent with the first released bytes, so a body that is refused
 * before then still gets a 502 problem. Unknown encodings fail. A protocol's `filter` (MCP) sees the decoded body
 * before the scrubber, also with a lazily sent head. The `onError` hook sees a decoded or filtered body's failure.
 * Whatever the encoding, the answer ends only after `onFinal` resolves (the audit log's group commit).
 */
function bodySink(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  head: { status: number; headers: Record<string, string | string[]> },
  onError: (error: Error) => void,
  onFinal: (() => Promise<void>) | undefined,
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
    ...(onFinal ? { onFinal } : {}),
  };
  if (encoding === 'identity' && filter === undefined) {
    res.writeHead(head.status, headers);
    const contentLength = lengthOf(headers);
    return { writable: new ScrubSink(res, contentLength === undefined ? options : { ...options, contentLength }) };
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

/**
 * Stages 7 and 8: forward with undici (streaming both ways) and scrub the answer on its way back. `onFinal` is
 * awaited before the answer's last byte goes out (the request's audit event); if it rejects, the answer is cut.
 */
export async function forwardAndScrub(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  request: Omit<ForwardRequest, 'signal'>,
  outcome: ForwardOutcome,
  abort: EventEmitter = new EventEmitter(),
  onFinal?: () => Promise<void>,
  hook?: ResponseHook,
): Promise<void> {
  // A bounded, timed wait for one of the target's connections (503 upstream_busy), whatever undici's pool state.
  const release = await target.slots.acquire((gone) => res.once('close', gone));
  try {
    await send(gw, res, target, request, outcome, abort, onFinal, hook);
  } finally {
    release();
  }
}

async function send(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  request: Omit<ForwardRequest, 'signal'>,
  outcome: ForwardOutcome,
  abort: EventEmitter,
  onFinal: (() => Promise<void>) | undefined,
  hook: ResponseHook | undefined,
): Promise<void> {
  const pool = target.pool;
  if (!pool) throw new EscrowError('unknown_target', 'no such target'); // a postgres target: no HTTP upstream
  const breaker = breakerFor(target, gw.metrics);
  const ticket = breaker?.admit(); // throws while the target's circuit is open: nothing is sent
  // undici takes an EventEmitter as its abort signal: far cheaper per request than an AbortController. The caller
  // may emit on it too (a task closed while the request is in flight).
  const onClose = () => {
    if (!res.writableFinished) abort.emit('abort');
  };
  // A decoded body's own failure (too large, corrupt), which undici may report as a plain abort.
  let bodyError: Error | undefined;
  let bodyDone: Promise<void> | undefined;
  res.once('close', onClose);
  outcome.dispatchedAt = performance.now();
  try {
    await forward(pool, { ...request, signal: abort }, (status, upstream) => {
      outcome.status = status;
      requireScrubbableFraming(upstream);
      const index = gw.secrets.index;
      const headers = finishResponseHeaders(responseHeaders(upstream, target.allowedResponseHeaders), target, index);
      const filter = hook?.responseFilter({ status, headers });
      const noBody = request.method === 'HEAD' || status === 204 || status === 304;
      if (noBody) {
        res.writeHead(status, headers);
        if (!onFinal) return res;
        return new ScrubSink(res, { scrubber: new StreamScrubber(index), flushAfterMs: 0, onFinal });
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
      return sink.writable;
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
