import { EscrowError } from '../errors.js';

/** `closed` lets everything through, `open` fails fast, `half_open` lets one probe through. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** How one forwarded request ended, as the breaker sees it. */
export type CircuitOutcome = 'success' | 'failure' | 'neutral';

/** The value of `escrow_circuit_state{target}`. */
export const CIRCUIT_GAUGE: Readonly<Record<CircuitState, number>> = { closed: 0, open: 1, half_open: 2 };

/** What `admit` hands out: which state the request was admitted in, and whether it is the probe. */
export interface CircuitTicket {
  readonly epoch: number;
  readonly probe: boolean;
}

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long the circuit stays open before one probe is let through. */
  readonly coolDownMs: number;
  readonly now?: () => number;
  readonly onState?: (state: CircuitState) => void;
}

/**
 * A per-target circuit breaker. After `failureThreshold` consecutive upstream failures it opens and every
 * request fails at once (no connection attempt, no waiting for a timeout); after `coolDownMs` exactly one
 * request is let through as a probe: its success closes the circuit, its failure opens it for another
 * cool-down. A probe that ends neutral (the agent went away) frees the probe slot without deciding.
 */
export class CircuitBreaker {
  readonly #o: CircuitBreakerOptions;
  readonly #now: () => number;
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;
  #epoch = 0;

  constructor(options: CircuitBreakerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    return this.#state;
  }

  /** Admit one request, or throw `circuit_open` (503). Hand the ticket to `settle`. */
  admit(): CircuitTicket {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#o.coolDownMs) this.#move('half_open');
    if (this.#state === 'closed') return { epoch: this.#epoch, probe: false };
    if (this.#state === 'half_open' && !this.#probing) {
      this.#probing = true;
      return { epoch: this.#epoch, probe: true };
    }
    throw new EscrowError('circuit_open', 'the upstream is failing: its circuit is open', {
      reason: 'circuit_open',
    });
  }

  /**
   * Report how an admitted request ended. Results of requests admitted before the last change of state are
   * ignored: a slow request sent before the circuit opened must not close it again.
   */
  settle(ticket: CircuitTicket, outcome: CircuitOutcome): void {
    if (ticket.probe) this.#probing = false;
    if (ticket.epoch !== this.#epoch || outcome === 'neutral') return;
    if (outcome === 'success') {
      this.#failures = 0;
      if (this.#state !== 'closed') this.#move('closed');
      return;
    }
    this.#failures++;
    if (ticket.probe || this.#failures >= this.#o.failureThreshold) {
      this.#openedAt = this.#now();
      this.#move('open');
    }
  }

  #move(state: CircuitState): void {
    this.#state = state;
    this.#epoch++;
    if (state === 'closed') this.#failures = 0;
    this.#o.onState?.(state);
  }
}

/**
 * Transport failures (refused, timed out, reset) and upstream answers 502/503/504 (a load balancer in front of
 * it reporting it down) count against the upstream; any other answer is a success (a 500 or a 404 is the
 * upstream working). An agent that went away, or an answer Escrow could not handle, is neutral.
 */
export function circuitOutcome(result: { status?: number; errorKind?: string }): CircuitOutcome {
  if (result.errorKind !== undefined) {
    return result.errorKind === 'connect' || result.errorKind === 'timeout' || result.errorKind === 'reset'
      ? 'failure'
      : 'neutral';
  }
  const status = result.status ?? 0;
  return status === 502 || status === 503 || status === 504 ? 'failure' : 'success';
}
