import type { Pool } from 'undici';
import { createAdapter } from '../adapters/registry.js';
import type { Adapter, AdapterContext } from '../adapters/types.js';
import type { TargetConfig } from './config/schema.js';
import { EscrowError } from './errors.js';
import { type PathOptions, STRICT_PATHS } from './http/canonical.js';
import type { TargetFacts } from './policy/types.js';
import { CircuitBreaker, type CircuitState } from './proxy/breaker.js';
import { createUpstreamPool } from './proxy/forward.js';
import { UpstreamSlots } from './proxy/slots.js';

/**
 * Every target's adapter, by target name, and the rule that ties an adapter to its target's protocol: the one
 * loop for the start, a SIGHUP and `escrow check`, so none of them lets through what another refuses.
 */
export async function createTargetAdapters(
  targets: readonly TargetConfig[],
  context: Omit<AdapterContext, 'path' | 'upstream'>,
): Promise<Map<string, Adapter>> {
  const adapters = new Map<string, Adapter>();
  try {
    for (const [i, config] of targets.entries()) {
      const adapter = await createAdapter(config.credential, {
        ...context,
        path: `targets[${i}].credential`,
        upstream: config.upstream,
      });
      adapters.set(config.name, adapter);
      if (adapter.kind === 'postgres' && config.protocol !== 'postgres') {
        throw new EscrowError('config_invalid', `targets[${i}].credential.adapter: postgres needs protocol: postgres`);
      }
    }
  } catch (error) {
    // None of them will serve: what the ones built so far hold (admin connections) is released now.
    await closeAdapters(adapters.values());
    throw error;
  }
  return adapters;
}

/** Close adapters that no request uses any more; a failing `close()` is not the caller's failure. */
export async function closeAdapters(adapters: Iterable<Adapter>): Promise<void> {
  await Promise.all(
    [...adapters].map((adapter) =>
      Promise.resolve()
        .then(() => adapter.close?.())
        .catch(() => {}),
    ),
  );
}

/**
 * A target as the pipeline uses it: its config, its adapter, and the state it owns toward its upstream (pool,
 * slots, circuit breaker). Built at start and on every reload (`buildTargetRuntime`), never mutated.
 */
export interface TargetRuntime {
  readonly config: TargetConfig;
  readonly adapter: Adapter;
  /** The HTTP upstream's connection pool (absent for `protocol: postgres`, whose listener connects itself). */
  readonly pool: Pool | undefined;
  /** The cap on requests in flight toward the upstream, with its bounded wait (proxy/slots.ts). */
  readonly slots: UpstreamSlots;
  /**
   * The requests routed through this runtime, from routing to their record: a reload closes the adapter it
   * replaces once they are done. Each also counts toward `poolUsers`.
   */
  readonly users: Users;
  /** The requests routed to this pool (shared with the runtimes that keep it): a replaced pool closes when idle. */
  readonly poolUsers: Users;
  /** The upstream's circuit breaker (`targets[].circuitBreaker`), or null when the target has none. */
  readonly breaker: CircuitBreaker | null;
  /** The upstream URL's path without a trailing slash (`''` for the root). */
  readonly basePath: string;
  readonly origin: string;
  readonly facts: TargetFacts;
  readonly allowedResponseHeaders: ReadonlySet<string>;
  /** Every header that may carry a workload token for this target: removed before forwarding. */
  readonly tokenHeaders: ReadonlySet<string>;
}

export interface TargetRuntimeOptions {
  /** Headers that carry a workload token for every target (the identity issuers'). */
  readonly tokenHeaders: readonly string[];
  /** Every change of a target's circuit state (the gateway's metrics). */
  readonly onCircuitState: (target: string, state: CircuitState) => void;
  /** The target's runtime before a reload: what still fits the new config is carried over. */
  readonly previous?: TargetRuntime | undefined;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The pool depends on the origin, the pool options and the timeouts undici enforces (proxy/forward.ts). */
function poolFits(previous: TargetRuntime, config: TargetConfig): boolean {
  return (
    previous.pool !== undefined &&
    previous.origin === new URL(config.upstream).origin &&
    same(previous.config.pool, config.pool) &&
    same(previous.config.limits, config.limits)
  );
}

/** An open circuit says something about one upstream: it survives a reload only while that upstream stays. */
function breakerFits(previous: TargetRuntime, config: TargetConfig): boolean {
  return previous.config.upstream === config.upstream && same(previous.config.circuitBreaker, config.circuitBreaker);
}

function createBreaker(config: TargetConfig, onCircuitState: TargetRuntimeOptions['onCircuitState']) {
  const options = config.circuitBreaker;
  if (!options) return null;
  const target = config.name;
  onCircuitState(target, 'closed');
  return new CircuitBreaker({
    failureThreshold: options.failureThreshold,
    coolDownMs: options.coolDownMs,
    onState: (state) => onCircuitState(target, state),
  });
}

/**
 * One target's runtime. With `previous` (a reload), the pool and its slots are kept when the new config still
 * fits them, and so is the circuit breaker: a reload must not close an open circuit in front of a failing upstream.
 */
export function buildTargetRuntime(config: TargetConfig, adapter: Adapter, o: TargetRuntimeOptions): TargetRuntime {
  const { previous } = o;
  const url = new URL(config.upstream);
  const keepPool = previous !== undefined && poolFits(previous, config);
  const pool = config.protocol === 'postgres' ? undefined : keepPool ? previous.pool : createUpstreamPool(config);
  const poolUsers = keepPool && previous ? previous.poolUsers : new Users();
  return {
    config,
    adapter,
    pool,
    slots:
      keepPool && previous
        ? previous.slots
        : new UpstreamSlots({
            max: config.pool.connections,
            maxQueued: config.pool.maxQueued,
            timeoutMs: config.pool.queueTimeoutMs,
          }),
    users: new Users(poolUsers),
    poolUsers,
    breaker: previous && breakerFits(previous, config) ? previous.breaker : createBreaker(config, o.onCircuitState),
    basePath: url.pathname.replace(/\/+$/, ''),
    origin: url.origin,
    facts: { name: config.name, attributes: config.attributes },
    allowedResponseHeaders: new Set(config.allowResponseHeaders),
    tokenHeaders: new Set([...o.tokenHeaders, ...(config.identityHeader ? [config.identityHeader] : [])]),
  };
}

/**
 * The requests that use something a reload may replace (a pool, an adapter), from routing to their record, so that
 * the reload closes it only once every request routed to it is done (undici's `close()` fails requests not yet
 * sent: an admitted request still identifying, issuing its lease or waiting for a slot would get a 502; an
 * adapter closed under a request could not issue its lease).
 */
export class Users {
  #count = 0;
  #onIdle: (() => void) | undefined;
  readonly #shared: Users | undefined;

  /** `shared`: a wider count every request entered here also enters (a runtime's requests, toward its pool's). */
  constructor(shared?: Users) {
    this.#shared = shared;
  }

  enter(): void {
    this.#count++;
    this.#shared?.enter();
  }

  leave(): void {
    this.#count--;
    if (this.#count === 0 && this.#onIdle) {
      const idle = this.#onIdle;
      this.#onIdle = undefined;
      idle();
    }
    this.#shared?.leave();
  }

  /** Run `close` now if nothing is in use, else when the last request routed here is done. */
  retire(close: () => void): void {
    if (this.#count === 0) close();
    else this.#onIdle = close;
  }
}

/**
 * The gateway's targets: one immutable snapshot behind one reference. A reload builds the next snapshot and swaps
 * it in one step (`replace`), so a request sees either every old or every new target; whoever holds the table
 * (requests, the revoker, the postgres listeners) sees the swap.
 */
export class TargetTable implements ReadonlyMap<string, TargetRuntime> {
  #snapshot: ReadonlyMap<string, TargetRuntime>;

  constructor(snapshot: ReadonlyMap<string, TargetRuntime>) {
    this.#snapshot = snapshot;
  }

  /** Swap in the next snapshot; returns the one it replaced. */
  replace(next: ReadonlyMap<string, TargetRuntime>): ReadonlyMap<string, TargetRuntime> {
    const previous = this.#snapshot;
    this.#snapshot = next;
    return previous;
  }

  get size(): number {
    return this.#snapshot.size;
  }
  get(name: string): TargetRuntime | undefined {
    return this.#snapshot.get(name);
  }
  has(name: string): boolean {
    return this.#snapshot.has(name);
  }
  forEach(fn: (value: TargetRuntime, key: string, map: ReadonlyMap<string, TargetRuntime>) => void): void {
    for (const [key, value] of this.#snapshot) fn(value, key, this);
  }
  entries(): MapIterator<[string, TargetRuntime]> {
    return this.#snapshot.entries();
  }
  keys(): MapIterator<string> {
    return this.#snapshot.keys();
  }
  values(): MapIterator<TargetRuntime> {
    return this.#snapshot.values();
  }
  [Symbol.iterator](): MapIterator<[string, TargetRuntime]> {
    return this.#snapshot[Symbol.iterator]();
  }
}

export function upstreamPath(target: TargetRuntime, rest: string): string {
  // An MCP target is one endpoint, the upstream URL itself (gateway/mcp/exchange.ts refuses any other `rest`).
  if (target.config.protocol === 'mcp') return target.basePath || '/';
  return target.basePath + rest;
}

/** A target's path options (`allowEncodedSlash`); the strict defaults for any other name (`_escrow`, unknown). */
export function pathOptions(targets: ReadonlyMap<string, TargetRuntime>, name: string): PathOptions {
  return targets.get(name)?.config ?? STRICT_PATHS;
}
