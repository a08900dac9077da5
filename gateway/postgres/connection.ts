import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { principalRef, taskRef } from '../domain.js';
import { EscrowError, toEscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { clientIp } from '../http/address.js';
import { randomId } from '../ids.js';
import { countLimit } from '../limits.js';
import { admitConnection, type ConnectionAdmission } from './admission.js';
import { isLoopback } from './config.js';
import type { ListenerContext } from './context.js';
import { errorFor, negotiateProtocolVersion } from './messages.js';
import { outcomeOf } from './metrics.js';
import { runSession } from './session.js';
import { type Opening, readOpening } from './startup.js';

type Startup = Extract<Opening, { kind: 'startup' }>;

/** The workload token is the password: never accepted in the clear, except from loopback when configured. */
function requireEncryption(opening: Startup, socket: Socket, ctx: ListenerContext): void {
  if (opening.tls) return;
  if (ctx.config.allowPlaintext && isLoopback(socket.remoteAddress ?? '')) return;
  throw new EscrowError('identity_missing', 'this listener requires TLS (the workload token is the password)', {
    reason: 'tls_required',
  });
}

/** The audit event and metrics of a refused connection, with whatever admission had established. */
function recordRefusal(gw: Gateway, ctx: ListenerContext, a: ConnectionAdmission, error: EscrowError): void {
  const target = ctx.targetName;
  ctx.metrics.connections.inc({ target, outcome: outcomeOf(error.code, error.reason) });
  countLimit(gw.metrics, error);
  gw.audit.record({
    event: 'connection.refused',
    requestId: a.requestId,
    ...(a.decision ? { decisionId: a.decision.id, policies: a.decision.policies } : {}),
    decision: 'deny',
    ...(a.principal ? { principal: principalRef(a.principal) } : {}),
    ...(a.task ? { task: taskRef(a.task) } : {}),
    target,
    reason: error.reason ?? error.code,
  });
}

/** Rejects once the startup has taken longer than the listener allows. */
function deadline(ms: number): { readonly expired: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new EscrowError('request_timeout', 'the startup did not complete in time', { reason: 'timeout' })),
      ms,
    );
  });
  expired.catch(() => {}); // raced below; unobserved when the startup wins
  return { expired, clear: () => clearTimeout(timer) };
}

/** The refusal: one ErrorResponse where the client reads, one audit event, then the connection closes. */
function refuse(gw: Gateway, ctx: ListenerContext, a: ConnectionAdmission, client: Duplex, error: unknown): void {
  const failure = toEscrowError(error);
  if (failure.code === 'internal')
    gw.log.error({ requestId: a.requestId, err: failure.cause }, 'postgres connection failed');
  if (failure.reason !== 'eof') recordRefusal(gw, ctx, a, failure);
  // After a failed TLS handshake the client expects TLS records: a plaintext ErrorResponse would be noise.
  if (client.writable && failure.reason !== 'tls_failed') client.end(errorFor(failure));
  setTimeout(() => client.destroy(), 1_000).unref();
}

/** The startup proper once the opening is known: encryption enforced, protocol negotiated, user and database. */
function startupFacts(opening: Startup, raw: Socket, ctx: ListenerContext) {
  requireEncryption(opening, raw, ctx);
  if (opening.negotiate) opening.socket.write(negotiateProtocolVersion(opening.negotiate));
  const user = opening.params.get('user');
  if (!user) throw new EscrowError('identity_missing', 'no user name (the task id) in the startup packet');
  // PostgreSQL's own default: the database named like the user.
  const database = opening.params.get('database') || user;
  return { socket: opening.socket, tls: opening.tls, reader: opening.reader, user, database };
}

/**
 * One client connection on a postgres listener: startup (TLS, version, parameters), the shared stages, then
 * the upstream login as the lease's role and the relay (session.ts). Every refusal is one ErrorResponse with
 * a SQLSTATE and one audit event; the startup is bounded by `startupTimeoutMs` as a whole.
 */
export async function handleConnection(gw: Gateway, ctx: ListenerContext, raw: Socket): Promise<void> {
  const startedAt = performance.now();
  const admission: ConnectionAdmission = { requestId: randomId('req_', 9, 'base64url') };
  const limit = deadline(ctx.config.startupTimeoutMs);
  const current: { socket: Duplex } = { socket: raw };
  try {
    if (!gw.targets.has(ctx.targetName)) throw new EscrowError('unknown_target', 'no such target');
    if (ctx.connections() > ctx.config.maxConnections) {
      throw new EscrowError('too_many_requests', 'too many connections on this listener');
    }
    const opening = await Promise.race([readOpening(raw, ctx.startup, current), limit.expired]);
    if (opening.kind === 'cancel') {
      limit.clear();
      await ctx.cancel(opening.processId, opening.secretKey);
      raw.end(); // as PostgreSQL: no answer, whether or not the key named a session
      return;
    }
    const facts = { ...startupFacts(opening, raw, ctx), clientIp: clientIp(raw.remoteAddress) };
    // The target as it stands now, not before the startup (which the client may drag out while a reload retires the
    // runtime and closes its adapter); entered in the same turn, so a reload closes it only once admissions are done.
    const target = gw.targets.get(ctx.targetName);
    if (!target) throw new EscrowError('unknown_target', 'no such target');
    target.users.enter();
    const admitted = admitConnection(gw, target, facts, admission).finally(() => target.users.leave());
    await Promise.race([admitted, limit.expired]);
    limit.clear(); // the upstream login is bounded by the target's connectTimeoutMs
    const session = await runSession(gw, ctx, target, { opening, database: facts.database, admission, startedAt });
    await session.ended;
  } catch (error) {
    refuse(gw, ctx, admission, current.socket, error);
  } finally {
    limit.clear();
  }
}
