import type { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import type { TargetConfig } from '../config/schema.js';
import { EscrowError } from '../errors.js';
import type { UpstreamErrorKind } from '../metric-labels.js';

export interface ForwardRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Readable | Buffer | undefined;
  /** An AbortSignal, or any EventEmitter that emits `abort` (undici accepts both; the emitter is cheaper). */
  readonly signal: AbortSignal | EventEmitter;
}

/** A keep-alive pool toward one target's origin. Redirects are never followed (undici's Pool does not). */
export function createUpstreamPool(target: TargetConfig): Pool {
  return new Pool(new URL(target.upstream).origin, {
    connections: target.pool.connections,
    keepAliveTimeout: target.pool.keepAliveTimeoutMs,
    headersTimeout: target.limits.headersTimeoutMs,
    bodyTimeout: target.limits.bodyTimeoutMs,
    connectTimeout: target.limits.connectTimeoutMs,
    maxResponseSize: target.limits.maxResponseBytes ?? -1,
  });
}

/** Map an undici failure once, here, to Escrow's error family (502/504) with the original as `cause`. */
export function upstreamError(error: unknown): { error: EscrowError; kind: UpstreamErrorKind } {
  const code = (error as { code?: string }).code ?? '';
  if (error instanceof EscrowError) return { error, kind: 'protocol' };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return {
      error: new EscrowError('upstream_timeout', 'the upstream did not answer in time', { cause: error }),
      kind: 'timeout',
    };
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') {
    return {
      error: new EscrowError('upstream_unavailable', 'the upstream refused the connection', { cause: error }),
      kind: 'connect',
    };
  }
  if (error instanceof undiciErrors.RequestAbortedError || code === 'UND_ERR_ABORTED') {
    return { error: new EscrowError('upstream_error', 'the request was aborted', { cause: error }), kind: 'aborted' };
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return {
      error: new EscrowError('upstream_error', 'the upstream connection failed', { cause: error }),
      kind: 'reset',
    };
  }
  return {
    error: new EscrowError('upstream_error', 'the upstream request failed', { cause: error }),
    kind: 'protocol',
  };
}

/**
 * Send the request and stream the answer: `onHead` is called with the status and headers and returns the
 * writable the body goes to (keeping backpressure end to end).
 */
export async function forward(
  pool: Pool,
  request: ForwardRequest,
  onHead: (statusCode: number, headers: Record<string, string | string[] | undefined>) => Writable,
): Promise<void> {
  await pool.stream(
    {
      method: request.method as 'GET',
      path: request.path,
      headers: request.headers,
      body: request.body ?? null,
      signal: request.signal,
    },
    ({ statusCode, headers }) => onHead(statusCode, headers),
  );
}
