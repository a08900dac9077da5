import { describe, expect, it } from 'vitest';
import { cedar } from '../../../gateway/policy/cedar.js';
import { scopeAdmits, scopeOf } from '../../../gateway/policy/scope.js';

function scope(text: string) {
  const answer = cedar.policyToJson(text);
  if (answer.type === 'failure') throw new Error(answer.errors[0]?.message);
  return scopeOf(answer.json);
}

describe('a policy is sliced only by what its scope pins down exactly', () => {
  it('reads the target, actions and principal type from the scope', () => {
    const s = scope(
      'permit (principal is Escrow::Agent, action in [Escrow::Action::"write", Escrow::Action::"delete"], resource == Escrow::Target::"echo");',
    );
    expect(s.target).toBe('echo');
    expect([...(s.actions ?? [])]).toEqual(['write', 'delete']);
    expect([...(s.principalTypes ?? [])]).toEqual(['Agent']);
    expect(scopeAdmits(s, 'echo', 'write', 'Agent')).toBe(true);
    expect(scopeAdmits(s, 'echo', 'read', 'Agent')).toBe(false);
    expect(scopeAdmits(s, 'echo', 'write', 'Human')).toBe(false);
    expect(scopeAdmits(s, undefined, 'write', 'Agent')).toBe(false);
  });

  it('counts anything else as any: `in` a target or principal, `is`, an unknown action or group, another type', () => {
    for (const text of [
      'permit (principal in Escrow::Agent::"a", action in Escrow::Action::"someGroup", resource in Escrow::Target::"x");',
      'permit (principal, action == Other::Action::"read", resource is Escrow::Target);',
      'permit (principal is Other::User, action, resource == Other::Target::"x");',
    ]) {
      const s = scope(text);
      expect(s).toEqual({ target: undefined, actions: undefined, principalTypes: undefined });
      expect(scopeAdmits(s, 'x', 'connect', 'Human')).toBe(true);
    }
  });
});
