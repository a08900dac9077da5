import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { bindConnection } from '../connections.js';
import { toEscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { countLimit } from '../limits.js';
import { authorizeAsk } from './authorize.js';
import { type Channel, openExchange } from './exchange.js';
import { identify } from './identify.js';
import { inject } from './inject.js';
import { lease } from './lease.js';
import { cutError } from './lib/cut.js';
import { httpChannel } from './lib/http.js';
import { upgradeChannel } from './lib/upgrade.js';
import { commitBeforeAnswer, record } from './record.js';
import { taskFor } from './task.js';

/** The proxy listener's `request` handler: one plain request through the pipeline. */
export function handleRequest(gw: Gateway, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (res.socket === null) closeWhenOrphaned(req, res);
  return run(gw, req, httpChannel(gw, req, res, openExchange(req, false)));
}

/**
 * A pipelined request's response waits, without a socket, for the answers before it on the connection. If the
 * agent's connection closes meanwhile, Node never gives that response a socket, nor a 'close': everything that
 * waits for it (the upstream request, the principal's slot, the task binding, a paused answer) would wait for ever.
 * Its 'close' is given here instead. (A response that has its socket gets its 'close' from Node.)
 */
function closeWhenOrphaned(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  const orphaned = () => {
    if (res.socket === null && !res.destroyed) {
      res.destroyed = true;
      res.emit('close');
    }
  };
  socket.once('close', orphaned);
  res.once('close', () => socket.off('close', orphaned));
}

/** The proxy listener's `upgrade` handler: a WebSocket upgrade through the same pipeline. */
export function handleUpgrade(gw: Gateway, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  // One socket carries the upgrade, its admission, its binding to the task and two pipelines: more than the
  // default ten 'close' listeners, none of them leaked (they go with the socket).
  socket.setMaxListeners(20);
  socket.on('error', () => socket.destroy());
  return run(gw, req, upgradeChannel(gw, req, socket, head, openExchange(req, true)));
}

/**
 * The nine stages of shared/DESIGN.md, in order, for a plain request and a WebSocket upgrade alike (the channel is
 * what differs: pipeline/lib/http.ts, pipeline/lib/upgrade.ts). The order is the security argument: the request
 * target is checked before any token is looked at; nothing is evaluated for an unverified caller; the task is
 * resolved before policy (policy sees it); a credential is touched only after an allow, and after a person's
 * approval where policy asks for one; the agent's headers are stripped before the adapter injects; the response is
 * scrubbed before the agent sees a byte. Audit and metrics run in `finally`, on every path.
 */
async function run(gw: Gateway, req: IncomingMessage, channel: Channel): Promise<void> {
  const { ex } = channel;
  try {
    const routed = channel.route(); // 1 route (undefined: Escrow's own API answered)
    const ask = routed instanceof Promise ? await routed : routed;
    if (!ask) return;
    ex.seenSeq = gw.connections.seq;
    const identified = identify(gw, req, ex.requestId, ex.client, ask.target.config.identityHeader); // 2 identify
    ex.principal = identified instanceof Promise ? await identified : identified;
    // One 'close' listener for the exchange: it gives the principal's slot back and unbinds the task.
    const slot = gw.inFlight.take(ex.principal, channel.owner);
    let unbind: (() => void) | undefined;
    let closed = false;
    channel.owner.on('close', () => {
      if (closed) return; // once, whatever emits it
      closed = true;
      gw.inFlight.leave(slot);
      unbind?.();
    });
    const task = taskFor(gw, req, ex.principal, ask.target); // 3 task
    ex.task = task instanceof Promise ? await task : task;
    const decided = authorizeAsk(gw, req, ask, ex); // 4 authorize
    if (decided instanceof Promise) await decided;
    const leased = lease(gw, req, ask, ex); // 5 lease
    const granted = leased instanceof Promise ? await leased : leased;
    unbind = bindConnection(gw.connections, ex, (reason) => channel.cut(reason));
    if (closed) unbind(); // the agent left during admission: nothing to keep bound (the forward refuses it)
    // A close that raced the admission cuts at the binding (or while the body is read): nothing goes upstream.
    if (ex.cut) throw cutError(ex.cut);
    const stripped = channel.upstreamRequest(ask); // 6 inject: strip the agent's headers…
    const upstream = stripped instanceof Promise ? await stripped : stripped;
    if (ex.cut) throw cutError(ex.cut);
    const release = inject(gw, ask.target, granted, upstream); // …then the adapter injects the credential
    await channel.forward(ask, upstream, release); // 7 forward, 8 scrub (pipeline/forward.ts, pipeline/scrub.ts)
  } catch (error) {
    ex.error = ex.cut ? cutError(ex.cut) : toEscrowError(error);
    countLimit(gw.metrics, ex.error);
    if (ex.error.code === 'internal') {
      gw.log.error({ requestId: ex.requestId, err: ex.error.cause }, ex.upgrade ? 'upgrade failed' : 'request failed');
    }
    if (ex.cut && channel.ended()) return;
    if (ex.target && !channel.answered()) await commitBeforeAnswer(gw, req, ex, channel.fallbackStatus());
    channel.refuse(ex.error);
  } finally {
    if (ex.target) {
      ex.target.users.leave();
      record(gw, req, ex, channel.fallbackStatus()); // 9 record
    }
  }
}
