import type { Socket } from 'node:net';
import { EscrowError, PROBLEM_CONTENT_TYPE, toProblem } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** The `limit` label of `escrow_limits_exceeded_total`: a bounded set, named after what was too big or too slow. */
export const LIMIT_NAMES = ['body_size', 'header_size', 'concurrency', 'request_timeout', 'upstream_queue'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

const LIMIT_OF_CODE: Partial<Record<EscrowError['code'], LimitName>> = {
  payload_too_large: 'body_size',
  headers_too_large: 'header_size',
  too_many_requests: 'concurrency',
  upstream_busy: 'upstream_queue',
};

/** Count a refusal in `escrow_limits_exceeded_total` when it was a limit (any other error is ignored). */
export function countLimit(metrics: Metrics, error: EscrowError): void {
  const limit = LIMIT_OF_CODE[error.code];
  if (limit) metrics.limitsExceeded.inc({ limit });
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

function parserProblem(code: string | undefined): { error: EscrowError; status: number; limit?: LimitName } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      error: new EscrowError('headers_too_large', 'request headers are too large'),
      status: 431,
      limit: 'header_size',
    };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      error: new EscrowError('request_timeout', 'the request was not received in time'),
      status: 408,
      limit: 'request_timeout',
    };
  }
  return { error: new EscrowError('bad_request', 'the request could not be parsed'), status: 400 };
}

/**
 * The listener for Node's `clientError` (parser rejections and header/request timeouts). Node's error
 * carries the raw request bytes, the agent's token included: only its `code` is looked at, never logged as is.
 */
export function clientErrorHandler(metrics: Metrics, log: Logger) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    const { error: problem, status, limit } = parserProblem(error.code);
    if (limit) metrics.limitsExceeded.inc({ limit });
    log.debug({ code: error.code ?? 'unknown', status }, 'request refused by the HTTP parser');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ ...toProblem(problem), status });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
}
