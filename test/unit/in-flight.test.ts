import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { PrincipalRef } from '../../gateway/domain.js';
import { InFlightPerPrincipal } from '../../gateway/in-flight.js';

const agent = (id: string): PrincipalRef => ({ type: 'Agent', id, issuer: 'https://issuer.test' });
const owner = () => Object.assign(new EventEmitter(), { destroyed: false });

/** The concurrency limit per principal (gateway/in-flight.ts): its counts are bounded, its limit never forgotten. */
describe('requests in flight per principal', () => {
  it('never forgets a principal with a request in flight, however many others come and go', () => {
    const slots = new InFlightPerPrincipal(1);
    const busy = agent('busy');
    const held = slots.take(busy, owner());
    // Thousands of other workloads, each one request and gone: the idle ones are swept, more than once.
    for (let i = 0; i < 50_000; i++) slots.leave(slots.take(agent(`a${i}`), owner()));
    expect(slots.principals).toBeLessThanOrEqual(20_001);
    // The busy one is still counted: its second request is refused (a sweep must not reset its limit).
    expect(() => slots.take(busy, owner())).toThrow(/too many concurrent requests/);
    slots.leave(held);
    slots.leave(slots.take(busy, owner()));
    expect(slots.total).toBe(0);
  });

  it('keeps a principal’s entry at 0 between its requests instead of deleting and adding it again', () => {
    const slots = new InFlightPerPrincipal(2);
    const a = agent('a');
    for (let i = 0; i < 100; i++) slots.leave(slots.take(a, owner()));
    expect(slots.principals).toBe(1);
    expect(slots.total).toBe(0);
  });
});
