import type { Socket } from 'node:net';
import { EscrowError } from './errors.js';
import { endWithProblem } from './http/raw.js';
import type { Logger } from './log.js';
import type { LimitName } from './metric-labels.js';
import type { Metrics } from './metrics.js';

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

function parserProblem(code: string | undefined): { error: EscrowError; limit?: LimitName } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      error: new EscrowError('headers_too_large', 'request headers are too large'),
      limit: 'header_size',
    };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      error: new EscrowError('request_timeout', 'the request was not received in time'),
      limit: 'request_timeout',
    };
  }
  return { error: new EscrowError('bad_request', 'the request could not be parsed') };
}

/**
 * The listener for Node's `clientError` (parser rejections and header/request timeouts). Node's error
 * carries the raw request bytes, the agent's token included: only its `code` is looked at, never logged as is.
 */
export function clientErrorHandler(metrics: Metrics, log: Logger) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    const { error: problem, limit } = parserProblem(error.code);
    if (limit) metrics.limitsExceeded.inc({ limit });
    log.debug({ code: error.code ?? 'unknown', status: problem.status }, 'request refused by the HTTP parser');
    endWithProblem(socket, problem);
  };
}
