import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Building, Principal, Soon } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import type { IdentityInput } from '../identity/types.js';

/**
 * Stage 2: the caller's verified workload identity. Failures are counted by reason and audited, then rethrown (or,
 * when the audit trail cannot take the event under failMode closed, `audit_unavailable` is thrown instead).
 */
export function identify(
  gw: Gateway,
  req: IncomingMessage,
  requestId: string,
  client: string,
  tokenHeader?: string,
): Soon<Principal> {
  const socket = req.socket as Partial<TLSSocket>;
  const input: Building<IdentityInput> = { rawHeaders: req.rawHeaders };
  if (socket.encrypted && socket.authorized) {
    const peer = socket.getPeerCertificate?.(true);
    if (peer && Object.keys(peer).length > 0) input.peerCertificate = peer;
  }
  if (tokenHeader) input.tokenHeader = tokenHeader;
  return verifyIdentity(gw, input, requestId, client);
}

/**
 * Stage 2 for any protocol: verify what the caller presented; failures are counted and audited, then rethrown. A
 * token whose verification is cached is a map lookup, answered at once (no promise).
 */
export function verifyIdentity(gw: Gateway, input: IdentityInput, requestId: string, client: string): Soon<Principal> {
  let hit: Principal | undefined;
  try {
    hit = gw.identity.cached?.(input);
  } catch {
    hit = undefined; // `verify` meets the same failure, and counts and audits it
  }
  return hit ?? verifyAudited(gw, input, requestId, client);
}

async function verifyAudited(gw: Gateway, input: IdentityInput, requestId: string, client: string) {
  try {
    return await gw.identity.verify(input);
  } catch (error) {
    const failure =
      error instanceof EscrowError
        ? error
        : new EscrowError('identity_rejected', 'workload identity rejected', { cause: error, reason: 'internal' });
    const reason = failure.reason ?? failure.code;
    gw.metrics.identityFailures.inc({ reason });
    // The 401 waits for its event like every answer (a repeat within the noise window is only counted).
    await gw.audit.commit({ event: 'identity.rejected', requestId, reason, decision: 'deny', client });
    throw failure;
  }
}
