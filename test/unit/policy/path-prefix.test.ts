import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { cedar } from '../../../gateway/policy/cedar.js';
import { type CompiledPolicySet, compilePolicySet } from '../../../gateway/policy/compile.js';
import { cachedVerdicts, evaluate } from '../../../gateway/policy/decide.js';
import { parsePolicySet } from '../../../gateway/policy/load.js';
import { pathPrefixOf, pathSlices } from '../../../gateway/policy/path-prefix.js';
import { agentRequest, PERMIT_ALL, SCHEMA_PATH } from '../../policy/fixtures/dirs.js';

const schema = readFileSync(SCHEMA_PATH, 'utf8');
const compiled: CompiledPolicySet[] = [];

afterAll(() => {
  for (const set of compiled) set.release();
});

function prefixOf(clauses: string): string | undefined {
  const answer = cedar.policyToJson(`permit (principal, action, resource) ${clauses};`);
  if (answer.type === 'failure') throw new Error(answer.errors[0]?.message);
  return pathPrefixOf(answer.json);
}

function compileForms(text: string): CompiledPolicySet[] {
  const source = parsePolicySet(schema, new Map([['p.cedar', PERMIT_ALL + text]]));
  const forms = [{ slice: false, prune: false }, { slice: true, prune: false }, {}].map((o) =>
    compilePolicySet(source, o),
  );
  compiled.push(...forms);
  return forms;
}

const at = (path: string) => agentRequest({ request: { method: 'GET', path, queryKeys: [] } });

describe('a policy gets a path prefix only when its leftmost condition proves one', () => {
  it('reads the literal before the first wildcard of a leading like, or a leading ==', () => {
    expect(prefixOf('when { context.request.path like "/admin-3/*" }')).toBe('/admin-3/');
    expect(prefixOf('when { context.request.path like "/a*b/*" && context.x == 1 }')).toBe('/a');
    expect(prefixOf('when { context.request.path like "/a\\*/*" }')).toBe('/a*/');
    expect(prefixOf('when { context.request.path like "/exact" }')).toBe('/exact');
    expect(prefixOf('when { context.request.path == "/exact" }')).toBe('/exact');
    expect(prefixOf('when { "/exact" == context.request.path }')).toBe('/exact');
    expect(prefixOf('when { (context.request.path like "/a/*" && context.x) && context.y } unless { true }')).toBe(
      '/a/',
    );
  });

  it('gives none for anything else', () => {
    for (const clauses of [
      'when { context.request.path like "*x" }',
      'when { context.request.path like "*" }',
      'when { context.x == 1 && context.request.path like "/a/*" }',
      'when { context has request && context.request.path like "/a/*" }',
      'when { context.request.path like "/a/*" || context.x }',
      'when { !(context.request.path like "/a/*") }',
      'when { context.request.path != "/a" }',
      'when { context.request.path == 5 }',
      'when { context.path like "/a/*" }',
      'when { principal.request.path like "/a/*" }',
      'unless { context.request.path like "/a/*" }',
      'when { true } when { context.request.path like "/a/*" }',
      'unless { false } when { context.request.path like "/a/*" }',
      '',
    ]) {
      expect(prefixOf(clauses), clauses).toBeUndefined();
    }
  });
});

describe('a slice has at most one sub-slice per distinct prefix, plus one, whatever the paths', () => {
  it('builds each from the policies whose prefix the path starts with, and never more of them', () => {
    const policies = ['/a', '/a/', '/a/b', '/ab', '/b/', undefined, '/a/'];
    const built: string[] = [];
    const forPath = pathSlices(
      policies.map((prefix, i) => ({ i, prefix })),
      (p) => p.prefix,
      (kept) => {
        built.push(kept.map((p) => p.i).join(','));
        return { setId: kept.map((p) => p.i).join(','), usage: undefined };
      },
    );
    expect(forPath('/a/bc').setId).toBe('0,1,2,5,6');
    expect(forPath('/abc').setId).toBe('0,3,5');
    expect(forPath('/b').setId).toBe('5');
    for (let i = 0; i < 5000; i++) forPath(`/${'ab/'[i % 3]}${i.toString(36)}/${'ab'[i % 2]}`);
    expect(built.length).toBeLessThanOrEqual(new Set(policies.filter(Boolean)).size + 1);
  });
});

describe('a path conjunct leading an erroring one', () => {
  const overflow = `@id("admin-overflow")
forbid (principal, action, resource) when { context.request.path like "/a/*" && context.time.hourUtc * 4611686018427387904 > 1 };
@id("b-datetime")
permit (principal, action, resource) when { context.request.path == "/b" && context.time.now.offset(duration("9223372036854775807ms")) > context.time.now };
`;

  it('denies with the error when the path matches, in every form, and lets the rest through', () => {
    for (const set of compileForms(overflow)) {
      const a = evaluate(set, at('/a/x'), at('/a/x').now);
      expect(a).toMatchObject({ decision: 'deny', policies: ['admin-overflow'] });
      expect(a.errors).toHaveLength(1);
      expect(evaluate(set, at('/b'), at('/b').now)).toMatchObject({ decision: 'deny', policies: ['b-datetime'] });
      expect(evaluate(set, at('/c/x'), at('/c/x').now)).toMatchObject({ decision: 'allow', errors: [] });
      expect(evaluate(set, at('/b/'), at('/b/').now)).toMatchObject({ decision: 'allow', errors: [] });
    }
  });

  it('keeps a policy whose path conjunct follows the erroring one: it denies on every path', () => {
    const late =
      '@id("late-path")\nforbid (principal, action, resource) when { context.time.hourUtc * 4611686018427387904 > 1 && context.request.path like "/z/*" };\n';
    for (const set of compileForms(late)) {
      expect(evaluate(set, at('/c'), at('/c').now)).toMatchObject({ decision: 'deny', policies: ['late-path'] });
    }
  });

  it('denies an unvalidated ip() that cannot parse, when the path matches', () => {
    const badIp =
      '@id("bad-ip")\nforbid (principal, action, resource) when { context.request.path like "/a/*" && context.client.ip.isInRange(ip("not-an-ip")) };\n';
    for (const set of compileForms(badIp)) {
      expect(evaluate(set, at('/a/x'), at('/a/x').now)).toMatchObject({ decision: 'deny', policies: ['bad-ip'] });
      expect(evaluate(set, at('/c'), at('/c').now)).toMatchObject({ decision: 'allow', errors: [] });
    }
  });
});

describe('paths no policy of the slice can match no longer split the decision cache', () => {
  it('decides a thousand new paths from one cached verdict, and still denies the forbidden ones', () => {
    const admin =
      '@id("no-admin")\nforbid (principal, action, resource) when { context.request.path like "/admin/*" };\n';
    const source = parsePolicySet(schema, new Map([['p.cedar', PERMIT_ALL + admin]]));
    const [sliced, unpathed] = [{}, { pathPrefixes: false }].map((o) => compilePolicySet(source, o)) as [
      CompiledPolicySet,
      CompiledPolicySet,
    ];
    compiled.push(sliced, unpathed);
    for (let i = 0; i < 1000; i++) {
      for (const set of [sliced, unpathed]) expect(evaluate(set, at(`/items/${i}`), 0).decision).toBe('allow');
    }
    expect(cachedVerdicts(sliced)).toBe(1);
    expect(cachedVerdicts(unpathed)).toBe(1000);
    expect(evaluate(sliced, at('/admin/x'), 0)).toMatchObject({ decision: 'deny', policies: ['no-admin'] });
  });
});
