import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { UpstreamRequest } from '../../adapters/types.js';
import type { CutReason } from '../connections.js';
import type { Action, Soon } from '../domain.js';
import type { EscrowError } from '../errors.js';
import { clientIp } from '../http/address.js';
import { randomId } from '../ids.js';
import type { SlotOwner } from '../in-flight.js';
import type { McpExchange } from '../mcp/exchange.js';
import { AbortHook } from '../proxy/forward.js';
import type { TargetRuntime } from '../targets.js';
import type { Admission } from './admission.js';
import type { ForwardOutcome } from './forward.js';

/** What one request or WebSocket upgrade accumulates on its way through the stages; the `finally` records it. */
export interface Exchange extends Admission {
  /** Set for a WebSocket upgrade (its audit event says `upgrade: websocket`). */
  readonly upgrade: boolean;
  readonly startedAt: number;
  /** The caller's address, taken at once (`req.socket` is gone once the connection closes). */
  readonly client: string;
  /** Stops the upstream request (a cut, the agent leaving). */
  readonly abort: AbortHook;
  /** Set when the task's close, expiry or a kill switch cut this request in flight. */
  cut?: CutReason;
  target?: TargetRuntime;
  /** The upstream path, for the audit event (the request's is in its Ask). */
  path?: string;
  error?: EscrowError;
  /** The upstream's status (a WebSocket's 101 or its refusal) and timings. */
  forward: ForwardOutcome;
  /** Set once the audit event is recorded: before the answer's end, or in the `finally`. */
  audited?: boolean;
  /** Set for MCP targets: the protocol's hooks into stages 4, 6 and 8 and into failure answers (gateway/mcp/). */
  mcp?: McpExchange;
}

/** What is being asked of which target (stage 1's result). */
export interface Ask {
  readonly target: TargetRuntime;
  readonly action: Action;
  /** The upstream path (what policy sees, byte for byte what is sent). */
  readonly path: string;
  readonly query: string;
  /** The query's parameter names (what policy reads of the query), parsed once. */
  readonly queryKeys: readonly string[];
}

/**
 * What differs between a plain request (pipeline/lib/http.ts) and a WebSocket upgrade (pipeline/lib/upgrade.ts):
 * stage 1's rules, what carries the answer back, and stages 6–8's transport. Everything else is the same pipeline.
 */
export interface Channel {
  readonly ex: Exchange;
  /**
   * Stage 1 for this kind of request; undefined when Escrow's own API took the request. A value when stage 1 answers
   * at once (a proxied request), a promise when it has more to do (Escrow's own API): see `Soon`.
   */
  route(): Soon<Ask | undefined>;
  /** Holds the principal's concurrency slot and the task binding until it closes (the response, the socket). */
  readonly owner: SlotOwner;
  /** The task's close, expiry or a kill switch reached the exchange in flight. */
  cut(reason: CutReason): void;
  /** Stage 6's request before the credential: method, path, the agent's headers stripped, the body. */
  upstreamRequest(ask: Ask): Soon<UpstreamRequest>;
  /** Stages 7 and 8: forward, and scrub the answer on its way back. `release` unpins the injected needles. */
  forward(ask: Ask, upstream: UpstreamRequest, release: () => void): Promise<void>;
  /** Whether the answer's head went out (a failure can then only cut it). */
  answered(): boolean;
  /** Whether a cut already told the agent why, so a failure has nothing left to answer. */
  ended(): boolean;
  /** Answer a failure (a problem document, an MCP error reply, or a cut). */
  refuse(error: EscrowError): void;
  /** The status recorded when neither an error nor the upstream gave one. */
  fallbackStatus(): number;
}

export function openExchange(req: IncomingMessage, upgrade: boolean): Exchange {
  return {
    requestId: randomId('req_', 9, 'base64url'),
    upgrade,
    startedAt: performance.now(),
    forward: {},
    abort: new AbortHook(),
    client: clientIp(req.socket.remoteAddress),
  };
}
