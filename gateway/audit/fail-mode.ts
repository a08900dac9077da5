import { EscrowError } from '../errors.js';
import type { AuditLog } from './types.js';

/**
 * The audit trail as what it allows: `ok`; `degraded`, a sink failing under `failMode: open` (work goes on);
 * `unavailable`, a sink failing under `failMode: closed` (absent counts as closed): nothing is served, issued or
 * approved, because nothing that happens could be written down.
 */
export type AuditState = 'ok' | 'degraded' | 'unavailable';

export function auditState(log: AuditLog): AuditState {
  if (log.healthy) return 'ok';
  return log.failMode === 'open' ? 'degraded' : 'unavailable';
}

/**
 * The fail-closed rule, in one place: throws `audit_unavailable` (503) while the trail is `unavailable`. `refused`
 * says what is refused (`nothing is served`, `no new credentials are issued`, `nothing is approved`). Every
 * request, upgrade, lease issuance and approval asks here; an answer could not be given anyway (it waits for its
 * event), and the upstream must not act on a request whose answer would be cut.
 */
export function requireAudit(log: AuditLog, refused = 'nothing is served'): void {
  if (auditState(log) === 'unavailable') {
    throw new EscrowError('audit_unavailable', `the audit trail is unavailable: ${refused} until it is back`);
  }
}
