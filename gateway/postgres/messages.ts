/**
 * The backend messages Escrow itself sends an agent (authentication, errors, key data), written with
 * pg-protocol's Writer. Everything after authentication comes from the database server, relayed.
 */
import { Writer } from 'pg-protocol/dist/buffer-writer.js';
import type { EscrowError, EscrowErrorCode } from '../errors.js';

const code = (c: string) => c.charCodeAt(0);

/** `R` AuthenticationOk (0) or AuthenticationCleartextPassword (3). */
export function authentication(kind: 'ok' | 'cleartextPassword'): Buffer {
  return new Writer().addInt32(kind === 'ok' ? 0 : 3).flush(code('R'));
}

export function parameterStatus(name: string, value: string): Buffer {
  return new Writer().addCString(name).addCString(value).flush(code('S'));
}

export function backendKeyData(processId: number, secretKey: number): Buffer {
  return new Writer().addInt32(processId).addInt32(secretKey).flush(code('K'));
}

export function readyForQuery(): Buffer {
  return new Writer().addString('I').flush(code('Z'));
}

/** `v` NegotiateProtocolVersion: Escrow speaks 3.0 and none of the `_pq_.` options the client asked for. */
export function negotiateProtocolVersion(unsupported: readonly string[]): Buffer {
  const w = new Writer().addInt32(0).addInt32(unsupported.length);
  for (const option of unsupported) w.addCString(option);
  return w.flush(code('v'));
}

/** An `E` ErrorResponse: severity FATAL (the connection ends after it), SQLSTATE, message, optional hint. */
export function errorResponse(sqlstate: string, message: string, hint?: string): Buffer {
  const w = new Writer();
  const field = (type: string, value: string) => w.addString(type).addCString(value);
  field('S', 'FATAL');
  field('V', 'FATAL');
  field('C', sqlstate);
  field('M', message);
  if (hint !== undefined) field('H', hint);
  w.addString('\u0000');
  return w.flush(code('E'));
}

/** SQLSTATEs a client shows, per Escrow error code (PostgreSQL's own choice for the same failure where there is one). */
const SQLSTATE: Readonly<Record<EscrowErrorCode, string>> = {
  bad_request: '08P01', // protocol_violation
  bad_path: '08P01',
  method_not_allowed: '08P01',
  payload_too_large: '08P01', // PostgreSQL answers an oversized startup packet with 08P01 too
  headers_too_large: '08P01',
  request_timeout: '08P01',
  unknown_target: '3D000',
  not_found: '3D000',
  identity_missing: '28000', // invalid_authorization_specification
  identity_rejected: '28P01', // invalid_password: the password is the workload token
  policy_denied: '42501', // insufficient_privilege
  task_required: '28000',
  task_not_found: '28000',
  task_closed: '28000',
  task_forbidden: '28000',
  task_invalid: '28000',
  task_limit: '53300', // too_many_connections
  too_many_requests: '53300',
  store_unavailable: '57P03', // cannot_connect_now: try again later
  audit_unavailable: '57P03',
  credential_unavailable: '57P03',
  circuit_open: '57P03',
  upstream_busy: '53300', // the database's own connection slots are all in use
  admin_unauthorized: '28000',
  upstream_unavailable: '08006', // connection_failure
  upstream_timeout: '08006',
  upstream_error: '08006',
  client_closed: '08006',
  approval_required: '42501', // a connection waits for a person: refused like a policy denial, the id in the message
  approval_denied: '42501',
  approval_expired: '42501',
  approval_forbidden: '42501',
  approval_not_found: '42704',
  approval_decided: '55000',
  approval_limit: '53300',
  config_invalid: 'XX000',
  internal: 'XX000',
};

/** Reasons that need a more precise SQLSTATE than their code's. */
const BY_REASON: Readonly<Record<string, string>> = {
  protocol_unsupported: '0A000', // feature_not_supported, as PostgreSQL answers protocol 2.0
  replication_refused: '0A000',
  tls_required: '28000',
  cert_invalid: '28000',
  token_missing: '28000',
  admin_shutdown: '57P01',
  task_revoked: '57P01', // admin_shutdown: what a client shows for pg_terminate_backend
};

/** The ErrorResponse for an Escrow error. The message is the error's own (never a secret); internals stay generic. */
export function errorFor(error: EscrowError): Buffer {
  const sqlstate = sqlstateOf(error);
  if (error.code === 'internal') return errorResponse(sqlstate, 'internal error');
  const decision = error.decisionId !== undefined ? ` (decision ${error.decisionId})` : '';
  const approval = error.approvalId !== undefined ? ` (approval ${error.approvalId})` : '';
  const hint = error.reason === 'tls_required' ? 'connect with sslmode=require or sslmode=verify-full' : undefined;
  return errorResponse(sqlstate, `escrow: ${error.message}${decision}${approval}`, hint);
}

/**
 * The SQLSTATE `errorFor` sends: the database server's own when it refused the session (`3D000` for a database
 * that does not exist, `53300` for the role's connection limit…), else by reason, else by code.
 */
export function sqlstateOf(error: EscrowError): string {
  const server = error.reason === 'server_refused' ? (error.cause as { code?: unknown } | undefined)?.code : undefined;
  if (typeof server === 'string' && /^[0-9A-Z]{5}$/.test(server)) return server;
  return (error.reason !== undefined ? BY_REASON[error.reason] : undefined) ?? SQLSTATE[error.code];
}
