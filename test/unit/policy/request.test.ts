import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cedar } from '../../../gateway/policy/cedar.js';
import { buildCall, cedarIp } from '../../../gateway/policy/request.js';
import { agentRequest, SCHEMA_PATH } from '../../policy/fixtures/dirs.js';

const schema = readFileSync(SCHEMA_PATH, 'utf8');

describe('the request cedar sees conforms to the schema', () => {
  const variants = {
    'an agent inside a task': agentRequest(),
    'a human without a task, with list claims and a token age': agentRequest({
      principal: {
        type: 'Human',
        id: 'alice@example.org',
        issuer: 'okta',
        authMethod: 'mtls',
        claims: { groups: ['sre', 'oncall'], level: 3, admin: false },
        issuedAt: Date.parse('2025-01-05T23:00:00Z') / 1000,
      },
      task: undefined,
      action: 'openTask',
    }),
    'a target with extra attributes and an audience': agentRequest({
      target: { name: 'console', attributes: { audience: 'human', owner: 'team-a', tier: 2, pci: true } },
    }),
  };
  for (const [what, request] of Object.entries(variants)) {
    it(`parses entities and context strictly for ${what}`, () => {
      const call = buildCall(request, 'unused', request.now);
      expect(cedar.checkParseEntities({ entities: call.entities, schema })).toEqual({ type: 'success' });
      expect(cedar.checkParseContext({ context: call.context, schema, action: call.action })).toEqual({
        type: 'success',
      });
    });
  }

  it('puts claims in tags as sets of strings and the rest of the target attributes in string tags', () => {
    const call = buildCall(variants['a human without a task, with list claims and a token age'], 'unused', 0);
    expect(call.entities[0]).toMatchObject({
      uid: { type: 'Escrow::Human', id: 'alice@example.org' },
      attrs: { issuer: 'okta', authMethod: 'mtls' },
      tags: { groups: ['sre', 'oncall'], level: ['3'], admin: ['false'] },
    });
    const target = buildCall(variants['a target with extra attributes and an audience'], 'unused', 0).entities[1];
    expect(target).toMatchObject({
      attrs: { name: 'console', sensitivity: 'unknown', environment: 'unknown', audience: 'human' },
      tags: { owner: 'team-a', tier: '2', pci: 'true' },
    });
  });

  it('gives time in UTC with Sunday as weekday 0, and the token age in seconds', () => {
    const request = variants['a human without a task, with list claims and a token age'];
    const sunday = Date.parse('2025-01-05T23:59:59Z');
    const { context } = buildCall(request, 'unused', sunday);
    expect(context.time).toEqual({
      hourUtc: 23,
      weekdayUtc: 0,
      now: { __extn: { fn: 'datetime', arg: '2025-01-05T23:59:59.000Z' } },
    });
    expect(context.identity).toEqual({ authMethod: 'mtls', tokenAgeSeconds: 3_599 });
    expect(context.task).toBeUndefined();
  });
});

describe('the client address is given to cedar as an ipaddr it accepts', () => {
  it('unwraps IPv4-mapped IPv6 addresses and drops zones', () => {
    expect(cedarIp('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(cedarIp('::FFFF:127.0.0.1')).toBe('127.0.0.1');
    expect(cedarIp('fe80::1%eth0')).toBe('fe80::1');
    expect(cedarIp('2001:db8::1')).toBe('2001:db8::1');
  });

  it('refuses what cedar would refuse', () => {
    for (const bad of ['', 'not-an-ip', '01.2.3.4', '64:ff9b::1.2.3.4', '10.0.0.0/8']) {
      expect(() => cedarIp(bad)).toThrow(RangeError);
    }
  });
});
