import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { compilePolicySet } from '../../../gateway/policy/compile.js';
import { evaluate } from '../../../gateway/policy/decide.js';
import { createPolicyEngine, type LoadedPolicyEngine } from '../../../gateway/policy/engine.js';
import { parsePolicySet } from '../../../gateway/policy/load.js';
import { agentRequest, makePolicyDir, PERMIT_ALL, removeDir, SCHEMA_PATH } from '../../policy/fixtures/dirs.js';

const dirs: string[] = [];
const engines: LoadedPolicyEngine[] = [];

async function engineWith(files: Record<string, string>): Promise<LoadedPolicyEngine> {
  const dir = await makePolicyDir(files);
  dirs.push(dir);
  const engine = await createPolicyEngine({ dir });
  engines.push(engine);
  return engine;
}

afterEach(async () => {
  for (const e of engines.splice(0)) e.close();
  for (const d of dirs.splice(0)) await removeDir(d);
});

describe('a forbid that errors at run time denies instead of being skipped', () => {
  it('denies when a validated forbid overflows, naming the forbid', async () => {
    const overflow =
      '@id("broken-forbid")\nforbid (principal, action, resource)\nwhen { context has task && context.task.ageSeconds * 4611686018427387904 > 0 };\n';
    const engine = await engineWith({ 'a.cedar': PERMIT_ALL, 'b.cedar': overflow });
    const decision = engine.authorize(agentRequest());
    expect(decision.decision).toBe('deny');
    expect(decision.policies).toEqual(['broken-forbid']);
    expect(decision.errors[0]).toMatch(/^broken-forbid: .*overflow/);
    // Without the task the forbid does not reach the overflow and the permit decides.
    expect(engine.authorize(agentRequest({ task: undefined })).decision).toBe('allow');
  });

  it('denies when an unvalidated forbid reads a tag the principal lacks', async () => {
    const schema = await readFile(SCHEMA_PATH, 'utf8');
    const missingTag =
      '@id("tag-forbid")\nforbid (principal, action, resource) when { principal.getTag("x").contains("y") };\n';
    const missingAttr =
      '@id("attr-forbid")\nforbid (principal, action, resource) when { resource.getTag("owner") == "z" };\n';
    for (const forbid of [missingTag, missingAttr]) {
      const source = parsePolicySet(schema, new Map([['p.cedar', PERMIT_ALL + forbid]]));
      for (const form of [{ slice: false, prune: false }, {}]) {
        const set = compilePolicySet(source, form);
        const verdict = evaluate(set, agentRequest(), Date.now());
        set.release();
        expect(verdict.decision).toBe('deny');
        expect(verdict.errors).toHaveLength(1);
      }
    }
  });

  it('refuses at start a forbid that strict validation can show is unsafe, naming file and policy', async () => {
    const unsafe =
      '@id("unsafe-forbid")\nforbid (principal, action, resource) when { principal.getTag("x").contains("y") };\n';
    const error = await engineWith({ 'nested/unsafe.cedar': unsafe }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'config_invalid' });
    expect((error as Error).message).toContain('nested/unsafe.cedar (unsafe-forbid)');
  });
});

describe('with no policies every request is denied', () => {
  it('denies an empty policy set', async () => {
    const engine = await engineWith({});
    expect(engine.policyCount).toBe(0);
    expect(engine.authorize(agentRequest())).toMatchObject({ decision: 'deny', policies: [], errors: [] });
  });

  it('denies what no policy permits', async () => {
    const engine = await engineWith({
      'a.cedar': '@id("reads")\npermit (principal, action == Escrow::Action::"read", resource);\n',
    });
    expect(engine.authorize(agentRequest()).decision).toBe('deny');
    expect(engine.authorize(agentRequest({ action: 'read' })).decision).toBe('allow');
  });

  it('denies a request cedar cannot read (a client address that is not an IP)', async () => {
    const engine = await engineWith({ 'a.cedar': PERMIT_ALL });
    const decision = engine.authorize(agentRequest({ clientIp: 'not-an-ip' }));
    expect(decision.decision).toBe('deny');
    expect(decision.errors).toHaveLength(1);
  });
});

describe('a policy set that cannot be loaded stops start-up with config_invalid', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    [
      'a policy without @id',
      { 'a.cedar': 'permit (principal, action, resource);' },
      'a.cedar: every policy needs an @id',
    ],
    [
      'a duplicate id',
      { 'a.cedar': PERMIT_ALL, 'b.cedar': PERMIT_ALL },
      'b.cedar: policy id "permit-all" is already used in a.cedar',
    ],
    ['a syntax error', { 'bad.cedar': '@id("x") permit (principal, action, resource) when {' }, 'bad.cedar:'],
    [
      'an unknown attribute',
      { 'c.cedar': '@id("typo")\npermit (principal, action, resource) when { resource.enviroment == "dev" };' },
      'c.cedar (typo)',
    ],
    [
      'a template',
      { 't.cedar': '@id("t")\npermit (principal, action, resource == ?resource);' },
      't.cedar: policy templates are not supported',
    ],
  ];
  for (const [what, files, message] of cases) {
    it(`refuses ${what}`, async () => {
      const error = await engineWith(files).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'config_invalid' });
      expect((error as Error).message).toContain(message);
    });
  }
});
