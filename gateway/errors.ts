/**
 * One error family for Escrow. Every failure carries a stable `code`; one table maps a code to its HTTP
 * status and problem type. Never match on message text, and never put a secret or token in a message.
 */

export type EscrowErrorCode =
  | 'bad_request'
  | 'bad_path'
  | 'method_not_allowed'
  | 'unknown_target'
  | 'not_found'
  | 'identity_missing'
  | 'identity_rejected'
  | 'policy_denied'
  | 'task_required'
  | 'task_not_found'
  | 'task_closed'
  | 'task_forbidden'
  | 'task_invalid'
  | 'task_limit'
  | 'approval_required'
  | 'approval_denied'
  | 'approval_expired'
  | 'approval_forbidden'
  | 'approval_not_found'
  | 'approval_decided'
  | 'approval_limit'
  | 'request_timeout'
  | 'payload_too_large'
  | 'headers_too_large'
  | 'too_many_requests'
  | 'store_unavailable'
  | 'audit_unavailable'
  | 'credential_unavailable'
  | 'upstream_unavailable'
  | 'circuit_open'
  | 'upstream_busy'
  | 'upstream_timeout'
  | 'upstream_error'
  | 'config_invalid'
  | 'admin_unauthorized'
  | 'client_closed'
  | 'internal';

interface ProblemKind {
  readonly status: number;
  readonly title: string;
}

/** The one table from error code to HTTP status and problem title. */
export const PROBLEMS: Readonly<Record<EscrowErrorCode, ProblemKind>> = Object.freeze({
  bad_request: { status: 400, title: 'Malformed request' },
  bad_path: { status: 400, title: 'Request target rejected' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  unknown_target: { status: 404, title: 'Unknown target' },
  not_found: { status: 404, title: 'Not found' },
  identity_missing: { status: 401, title: 'Workload identity required' },
  identity_rejected: { status: 401, title: 'Workload identity rejected' },
  policy_denied: { status: 403, title: 'Denied by policy' },
  task_required: { status: 403, title: 'A live task is required for this target' },
  task_not_found: { status: 404, title: 'Task not found' },
  task_closed: { status: 403, title: 'Task is closed or expired' },
  task_forbidden: { status: 403, title: 'Task does not allow this request' },
  task_invalid: { status: 400, title: 'Invalid task request' },
  task_limit: { status: 429, title: 'Task limit reached' },
  approval_required: { status: 403, title: 'Waiting for a person to approve' },
  approval_denied: { status: 403, title: 'Denied by a person' },
  approval_expired: { status: 403, title: 'Approval request expired' },
  approval_forbidden: { status: 403, title: 'Not allowed to decide this approval' },
  approval_not_found: { status: 404, title: 'Approval not found' },
  approval_decided: { status: 409, title: 'Approval already settled' },
  approval_limit: { status: 429, title: 'Too many approvals pending' },
  request_timeout: { status: 408, title: 'Request not received in time' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  headers_too_large: { status: 431, title: 'Request headers too large' },
  too_many_requests: { status: 429, title: 'Too many concurrent requests' },
  store_unavailable: { status: 503, title: 'Lease store unavailable' },
  audit_unavailable: { status: 503, title: 'Audit sink unavailable' },
  credential_unavailable: { status: 502, title: 'Credential could not be obtained' },
  upstream_unavailable: { status: 502, title: 'Upstream unavailable' },
  circuit_open: { status: 503, title: 'Upstream circuit open' },
  upstream_busy: { status: 503, title: 'No upstream connection available in time' },
  upstream_timeout: { status: 504, title: 'Upstream timed out' },
  upstream_error: { status: 502, title: 'Upstream failed' },
  config_invalid: { status: 500, title: 'Configuration invalid' },
  admin_unauthorized: { status: 401, title: 'Admin credential required' },
  // Never sent (the agent is gone); recorded in metrics and the audit trail, as nginx's 499.
  client_closed: { status: 499, title: 'The agent closed the connection' },
  internal: { status: 500, title: 'Internal error' },
});

export interface EscrowErrorOptions {
  cause?: unknown;
  /** A stable machine-readable sub-reason (e.g. `token_expired`); safe to show the agent. */
  reason?: string;
  decisionId?: string;
  /** The approval request the caller waits for (gateway/approvals/). */
  approvalId?: string;
}

/** Base error: a stable code, an optional stable reason, the original kept as `cause`. */
export class EscrowError extends Error {
  readonly code: EscrowErrorCode;
  readonly reason: string | undefined;
  readonly decisionId: string | undefined;
  readonly approvalId: string | undefined;

  constructor(code: EscrowErrorCode, message: string, options: EscrowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EscrowError';
    this.code = code;
    this.reason = options.reason;
    this.decisionId = options.decisionId;
    this.approvalId = options.approvalId;
  }

  get status(): number {
    return PROBLEMS[this.code].status;
  }
}

/** Any thrown value as an EscrowError; unknown failures become `internal` (which denies). */
export function toEscrowError(error: unknown): EscrowError {
  if (error instanceof EscrowError) return error;
  return new EscrowError('internal', 'internal error', { cause: error });
}

/**
 * The media type of every problem document. The `charset` parameter changes nothing for JSON readers, but
 * Octokit reads a body it does not know as JSON only as bytes ("Unknown error") unless it names a charset, and
 * then shows it as text, `code` and `detail` included. Compare the media type, not the whole header.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** RFC 9457 problem document. `detail` must be generic: no secret, token or policy text. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: EscrowErrorCode;
  reason?: string;
  decisionId?: string;
  /** The approval to wait for (`GET /_escrow/approvals/<id>?wait=30s`), then retry. */
  approvalId?: string;
  requestId?: string;
  /**
   * Extension members for SDKs that build their error message from a body of another API's shape: the
   * `@anthropic-ai/sdk` reads `message`, the `openai` SDK reads `error.message` (and `error.code`/`error.type`
   * into `err.code`/`err.type`). Both say `<code> (<reason>): <detail>`.
   */
  message: string;
  error: { type: EscrowErrorCode; code: EscrowErrorCode; message: string; reason?: string };
}

export function toProblem(error: EscrowError, requestId?: string): Problem {
  const kind = PROBLEMS[error.code];
  const problem: Problem = {
    type: `https://escrow.dev/problems/${error.code.replaceAll('_', '-')}`,
    title: kind.title,
    status: kind.status,
    // Internal errors never expose their message: it may come from a library and carry request bytes.
    detail: error.code === 'internal' ? 'internal error' : error.message,
    code: error.code,
    message: '',
    error: { type: error.code, code: error.code, message: '' },
  };
  problem.message = `${error.code}${error.reason === undefined ? '' : ` (${error.reason})`}: ${problem.detail}`;
  problem.error.message = problem.message;
  if (error.reason !== undefined) {
    problem.reason = error.reason;
    problem.error.reason = error.reason;
  }
  if (error.decisionId !== undefined) problem.decisionId = error.decisionId;
  if (error.approvalId !== undefined) problem.approvalId = error.approvalId;
  if (requestId !== undefined) problem.requestId = requestId;
  return problem;
}
