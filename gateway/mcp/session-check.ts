import type { EscrowError } from '../errors.js';
import { principalHash } from '../tasks/model.js';
import type { Asker } from './decide.js';

export type SessionRefusal = 'session_unknown' | 'session_foreign';

/**
 * The request's `Mcp-Session-Id` must be bound to this principal and this task: the one whose `initialize` created it
 * (through Escrow; an id Escrow never saw is unknown). Both refusals answer 404 "Session not found", so an id is no
 * oracle; the audit event says which. Returns the session id (undefined when the request has none).
 */
export async function checkSession(
  asker: Asker,
  header: readonly string[] | undefined,
  refuse: (reason: SessionRefusal) => EscrowError,
): Promise<string | undefined> {
  if (header === undefined || header.length === 0) return undefined;
  if (header.length > 1) throw refuse('session_unknown');
  const sessionId = header[0]!;
  const binding = await asker.gw.mcp.sessions.lookup(asker.target.config.name, sessionId);
  if (binding === null) throw refuse('session_unknown');
  if (binding.principal !== principalHash(asker.principal) || binding.task !== (asker.task?.id ?? '')) {
    throw refuse('session_foreign');
  }
  return sessionId;
}
