import { describe, expect, it } from 'vitest';
import { EscrowError } from '../../../gateway/errors.js';
import { CircuitBreaker, type CircuitState, circuitOutcome } from '../../../gateway/proxy/breaker.js';

function rig(failureThreshold = 3, coolDownMs = 1_000) {
  let now = 0;
  const states: CircuitState[] = [];
  const breaker = new CircuitBreaker({ failureThreshold, coolDownMs, now: () => now, onState: (s) => states.push(s) });
  const fail = () => breaker.settle(breaker.admit(), 'failure');
  const refused = () => {
    try {
      breaker.admit();
      return false;
    } catch (error) {
      return error instanceof EscrowError && error.code === 'circuit_open' && error.reason === 'circuit_open';
    }
  };
  return { breaker, states, fail, refused, advance: (ms: number) => (now += ms) };
}

describe('the circuit breaker opens after N consecutive failures and lets one probe through after the cool-down', () => {
  it('opens on the Nth consecutive failure, not before, and a success resets the count', () => {
    const { breaker, fail } = rig(3);
    fail();
    fail();
    breaker.settle(breaker.admit(), 'success');
    fail();
    fail();
    expect(breaker.state).toBe('closed');
    fail();
    expect(breaker.state).toBe('open');
  });

  it('refuses at once while open, then admits exactly one probe after the cool-down', () => {
    const { breaker, fail, refused, advance } = rig(1, 1_000);
    fail();
    expect(refused()).toBe(true);
    advance(999);
    expect(refused()).toBe(true);
    advance(1);
    const probe = breaker.admit();
    expect(probe.probe).toBe(true);
    expect(breaker.state).toBe('half_open');
    expect(refused()).toBe(true); // only one probe in flight
    breaker.settle(probe, 'success');
    expect(breaker.state).toBe('closed');
    expect(refused()).toBe(false);
  });

  it('opens again for a whole cool-down when the probe fails', () => {
    const { breaker, fail, refused, advance, states } = rig(1, 1_000);
    fail();
    advance(1_000);
    breaker.settle(breaker.admit(), 'failure');
    expect(breaker.state).toBe('open');
    advance(999);
    expect(refused()).toBe(true);
    expect(states).toEqual(['open', 'half_open', 'open']);
  });

  it('frees the probe slot when the probe ends neutral (the agent went away)', () => {
    const { breaker, fail, advance } = rig(1, 1_000);
    fail();
    advance(1_000);
    breaker.settle(breaker.admit(), 'neutral');
    expect(breaker.state).toBe('half_open');
    expect(breaker.admit().probe).toBe(true);
  });

  it('ignores the late success of a request sent before the circuit opened', () => {
    const { breaker, fail } = rig(2);
    const slow = breaker.admit();
    fail();
    fail();
    breaker.settle(slow, 'success');
    expect(breaker.state).toBe('open');
  });
});

describe('what counts against an upstream', () => {
  it('counts transport failures and 502/503/504 answers, not other answers or an agent that left', () => {
    expect(circuitOutcome({ errorKind: 'connect' })).toBe('failure');
    expect(circuitOutcome({ errorKind: 'timeout' })).toBe('failure');
    expect(circuitOutcome({ errorKind: 'reset' })).toBe('failure');
    expect(circuitOutcome({ errorKind: 'aborted' })).toBe('neutral');
    expect(circuitOutcome({ errorKind: 'protocol' })).toBe('neutral');
    expect(circuitOutcome({ status: 503 })).toBe('failure');
    expect(circuitOutcome({ status: 500 })).toBe('success');
    expect(circuitOutcome({ status: 404 })).toBe('success');
  });
});
