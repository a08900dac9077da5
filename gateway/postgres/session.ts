import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { principalRef, taskRef } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import type { CutReason } from '../metric-labels.js';
import type { TargetRuntime } from '../targets.js';
import type { ConnectionAdmission } from './admission.js';
import { postgresAddress } from './config.js';
import type { ListenerContext } from './context.js';
import { authentication, backendKeyData, errorFor, readyForQuery } from './messages.js';
import { type RelayEnd, relay } from './relay.js';
import type { LiveSession } from './sessions.js';
import type { Opening } from './startup.js';
import { openUpstream, type UpstreamSession } from './upstream.js';

/** What the connection handler hands over once admission allowed the connection. */
export interface SessionStart {
  readonly opening: Extract<Opening, { kind: 'startup' }>;
  readonly database: string;
  readonly admission: ConnectionAdmission;
  readonly startedAt: number;
}

const CUT_MESSAGES: Record<RelayEnd, EscrowError | undefined> = {
  revoked: new EscrowError('task_closed', 'terminating connection: the task was closed', { reason: 'task_revoked' }),
  task_expired: new EscrowError('task_closed', 'terminating connection: the task expired', { reason: 'task_revoked' }),
  shutdown: new EscrowError('upstream_unavailable', 'terminating connection: Escrow is shutting down', {
    reason: 'admin_shutdown',
  }),
  client_closed: undefined,
  server_closed: undefined,
  error: undefined,
};

/** How a cut from the gateway's live connections ends a session (and which message the client reads). */
const RELAY_ENDS: Record<CutReason, RelayEnd> = { task_closed: 'revoked', revoked: 'revoked', expired: 'task_expired' };

/** The startup parameters sent to the server: the client's, with the lease's role as `user`. */
function serverParams(opening: SessionStart['opening'], database: string): Map<string, string> {
  const params = new Map(opening.params);
  params.delete('user');
  params.set('database', database);
  return params;
}

function loginFor(ctx: ListenerContext, target: TargetRuntime, s: SessionStart) {
  const { username, password } = s.admission.lease!.credential.reveal().fields;
  if (!username || !password) {
    throw new EscrowError('credential_unavailable', 'the lease has no username and password for a database login');
  }
  return {
    ...postgresAddress(target.config.upstream),
    ...(ctx.upstreamTls ? { tls: ctx.upstreamTls } : {}),
    timeoutMs: target.config.limits.connectTimeoutMs,
    user: username,
    password,
    params: serverParams(s.opening, s.database),
  };
}

/** Forward a CancelRequest to the backend this session runs on (a new connection, as the protocol wants). */
async function cancelAt(ctx: ListenerContext, target: TargetRuntime, upstream: UpstreamSession) {
  if (!upstream.backendKey) return;
  const address = { ...postgresAddress(target.config.upstream), timeoutMs: target.config.limits.connectTimeoutMs };
  await ctx.sendCancel(address, upstream.backendKey);
}

/**
 * Log in at the database server as the lease's role, tell the client it is in (Escrow's own BackendKeyData:
 * the server's never reaches the agent), register the session for revocation and cancels, and relay until
 * either side ends it. Resolves once the session is live; `ended` resolves when it is over (recorded then).
 */
export async function runSession(
  gw: Gateway,
  ctx: ListenerContext,
  target: TargetRuntime,
  s: SessionStart,
): Promise<{ ended: Promise<void> }> {
  const a = s.admission;
  const upstream = await openUpstream(loginFor(ctx, target, s));
  // The role's password stays a needle for the session's life, whatever the lease cache does meanwhile.
  const unpin = gw.secrets.pin(a.lease!.credential);
  const processId = ctx.registry.freshProcessId();
  const secretKey = randomInt(-(2 ** 31), 2 ** 31 - 1);
  const clientFirst = s.opening.reader.detach();
  // The hello goes through the relay's scrubber (NoticeResponses from startup included), ahead of any reply.
  const hello = [
    authentication('ok'),
    ...upstream.startupMessages,
    backendKeyData(processId, secretKey),
    readyForQuery(),
  ];
  const serverFirst = Buffer.concat([...hello, upstream.leftover]);
  const session = relay(s.opening.socket, upstream.socket, gw.secrets.index, { clientFirst, serverFirst });
  const live: LiveSession = {
    processId,
    secretKey,
    cut: (reason) => session.cut(reason, errorFor(CUT_MESSAGES[reason] ?? CUT_MESSAGES.shutdown!)),
    cancel: () => cancelAt(ctx, target, upstream),
  };
  ctx.registry.add(live);
  // Bound like every live connection of its task (gateway/connections.ts): the task's close on any replica, a kill
  // switch or the task's expiry cuts it, and a close that raced this admission cuts it now. The role itself lives
  // as long as its lease: the revocation drops it and ends its backends.
  const unbind = gw.connections.register(a.task!.id, a.task!.expiresAt, a.seenSeq ?? -1, (reason) =>
    live.cut(RELAY_ENDS[reason]),
  );
  recordOpened(gw, ctx, s);
  // A task that vanished without a notice here (this replica was deaf) is not left running: look again now.
  if ((await gw.tasks.get(a.task!.id)) === null) live.cut('revoked');
  const ended = session.ended.then((why) => {
    unpin();
    unbind();
    ctx.registry.delete(live);
    recordClosed(gw, ctx, s, why, session.bytes);
  });
  return { ended };
}

function recordOpened(gw: Gateway, ctx: ListenerContext, s: SessionStart): void {
  const a = s.admission;
  const target = ctx.targetName;
  ctx.metrics.connections.inc({ target, outcome: 'opened' });
  ctx.metrics.active.inc({ target });
  ctx.metrics.connectSeconds.observe({ target }, (performance.now() - s.startedAt) / 1000);
  gw.audit.record({
    event: 'connection.opened',
    requestId: a.requestId,
    decisionId: a.decision!.id,
    decision: 'allow',
    policies: a.decision!.policies,
    principal: principalRef(a.principal!),
    task: taskRef(a.task!),
    target,
    leaseId: a.lease!.id,
    secretFingerprint: a.lease!.fingerprint,
    role: a.lease!.credential.reveal().fields.username,
    database: s.database,
    authMethod: a.authMethod,
    ...(a.approvalId ? { approvalId: a.approvalId } : {}),
  });
}

function recordClosed(
  gw: Gateway,
  ctx: ListenerContext,
  s: SessionStart,
  why: RelayEnd,
  bytes: { fromClient: number; toClient: number },
): void {
  const a = s.admission;
  const target = ctx.targetName;
  const seconds = (performance.now() - s.startedAt) / 1000;
  ctx.metrics.active.dec({ target });
  ctx.metrics.sessionSeconds.observe({ target }, seconds);
  ctx.metrics.bytes.inc({ target, direction: 'to_server' }, bytes.fromClient);
  ctx.metrics.bytes.inc({ target, direction: 'to_client' }, bytes.toClient);
  gw.audit.record({
    event: 'connection.closed',
    requestId: a.requestId,
    principal: principalRef(a.principal!),
    task: taskRef(a.task!),
    target,
    leaseId: a.lease!.id,
    reason: why,
    durationMs: Math.round(seconds * 1000),
    bytesFromClient: bytes.fromClient,
    bytesToClient: bytes.toClient,
  });
}
