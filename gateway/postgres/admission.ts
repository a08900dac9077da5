import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { admitApproval } from '../approvals/agent.js';
import type { Decision, Principal, Task } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { hasPeerCertificate } from '../identity/mtls.js';
import type { LeaseRecord } from '../leases/record.js';
import { verifyIdentity } from '../pipeline/identify.js';
import { authorize, requireAllow } from '../pipeline/lib/decide.js';
import type { TargetRuntime } from '../targets.js';
import type { FrameReader } from './frames.js';
import { authentication } from './messages.js';

/** The pseudo-header the workload token is verified under (the identity stage reads tokens from headers). */
const PASSWORD_HEADER = 'x-escrow-postgres-password';
/** A PasswordMessage larger than this cannot carry a token any issuer accepts. */
const MAX_PASSWORD_MESSAGE = 64 * 1024;

/** What admission establishes, filled in as it goes so that a refusal still records what was known. */
export interface ConnectionAdmission {
  readonly requestId: string;
  principal?: Principal;
  task?: Task;
  decision?: Decision;
  lease?: LeaseRecord;
  /** The person's approval this connection used, when policy asked for one. */
  approvalId?: string;
  authMethod?: 'password' | 'certificate';
  /** `gw.connections.seq` before the task was read: a close notice after it cuts the session at once. */
  seenSeq?: number;
}

/** The client's facts admission needs. */
export interface ConnectionFacts {
  readonly socket: Duplex;
  readonly tls: TLSSocket | undefined;
  readonly reader: FrameReader;
  readonly user: string;
  readonly database: string;
  readonly clientIp: string;
}

/** An X.509-SVID the TLS layer verified against the listener's client CA, if the client sent one. */
function verifiedCertificate(tls: TLSSocket | undefined) {
  if (!tls?.authorized) return undefined;
  const cert = tls.getPeerCertificate(true);
  return hasPeerCertificate(cert) ? cert : undefined;
}

/** The workload token, sent as the password (AuthenticationCleartextPassword, inside TLS). */
async function readPassword(facts: ConnectionFacts): Promise<string> {
  facts.socket.write(authentication('cleartextPassword'));
  const { type, body } = await facts.reader.message(MAX_PASSWORD_MESSAGE);
  if (type !== 'p') {
    throw new EscrowError('bad_request', `expected a password message, got "${type}"`, {
      reason: 'protocol_violation',
    });
  }
  const end = body.indexOf(0);
  if (end !== body.length - 1) {
    throw new EscrowError('bad_request', 'invalid password message', { reason: 'protocol_violation' });
  }
  return body.toString('utf8', 0, end);
}

async function identifyClient(gw: Gateway, facts: ConnectionFacts, into: ConnectionAdmission): Promise<Principal> {
  const cert = verifiedCertificate(facts.tls);
  if (cert) {
    into.authMethod = 'certificate';
    return verifyIdentity(gw, { rawHeaders: [], peerCertificate: cert }, into.requestId, facts.clientIp);
  }
  if (facts.tls && !facts.tls.authorized && hasPeerCertificate(facts.tls.getPeerCertificate(true))) {
    throw new EscrowError('identity_rejected', 'the client certificate was not accepted', { reason: 'cert_invalid' });
  }
  into.authMethod = 'password';
  const token = await readPassword(facts);
  return verifyIdentity(
    gw,
    { rawHeaders: [PASSWORD_HEADER, token], tokenHeader: PASSWORD_HEADER },
    into.requestId,
    facts.clientIp,
  );
}

/**
 * The shared stages, for a database connection: identify (client certificate, else the token sent as the
 * password), take a concurrency slot for the connection's life, resolve the task named by `user`, ask Cedar
 * `connect` with the database and client address, and only after an allow get-or-issue the lease (the role).
 */
export async function admitConnection(
  gw: Gateway,
  target: TargetRuntime,
  facts: ConnectionFacts,
  into: ConnectionAdmission,
): Promise<void> {
  into.principal = await identifyClient(gw, facts, into);
  gw.inFlight.admit(into.principal, facts.socket);
  into.seenSeq = gw.connections.seq;
  into.task = await gw.tasks.forRequest(facts.user, into.principal, target.config.name);
  into.decision = authorize(gw, {
    principal: into.principal,
    action: 'connect',
    target: target.facts,
    method: 'CONNECT',
    path: `/${facts.database}`,
    queryKeys: [],
    task: into.task,
    clientIp: facts.clientIp,
    database: facts.database,
  });
  requireAllow(into.decision);
  // No role while the task or this connection waits for a person (a pending or denied task, an @approval connect).
  into.approvalId = await admitApproval(gw.approvals, {
    task: into.task,
    principal: into.principal,
    decision: into.decision,
    target: target.config.name,
    action: 'connect',
    method: 'CONNECT',
    path: `/${facts.database}`,
    query: '',
    queryKeys: [],
    requestId: into.requestId,
  });
  into.lease = await gw.leases.acquire({
    task: into.task,
    target: target.config.name,
    adapter: target.adapter,
    ttlSeconds: target.config.credential.ttl,
    principal: into.principal,
    decisionId: into.decision.id,
    requestId: into.requestId,
  });
}
