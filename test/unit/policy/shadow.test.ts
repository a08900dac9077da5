import { afterEach, describe, expect, it } from 'vitest';
import {
  createPolicyEngine,
  type LoadedPolicyEngine,
  type ReloadInfo,
  type ShadowMismatch,
} from '../../../gateway/policy/engine.js';
import { agentRequest, makePolicyDir, PERMIT_ALL, removeDir, writePolicies } from '../../policy/fixtures/dirs.js';

const NO_WRITES = '@id("no-writes")\nforbid (principal, action == Escrow::Action::"write", resource);\n';

const dirs: string[] = [];
const engines: LoadedPolicyEngine[] = [];

afterEach(async () => {
  for (const e of engines.splice(0)) e.close();
  for (const d of dirs.splice(0)) await removeDir(d);
});

async function shadowed(onShadowMismatch: (m: ShadowMismatch) => void, onReload?: (r: string, i: ReloadInfo) => void) {
  const dir = await makePolicyDir({ 'a.cedar': PERMIT_ALL });
  const shadowDir = await makePolicyDir({ 'a.cedar': PERMIT_ALL, 'b.cedar': NO_WRITES });
  dirs.push(dir, shadowDir);
  const engine = await createPolicyEngine({ dir, shadowDir, onShadowMismatch, ...(onReload ? { onReload } : {}) });
  engines.push(engine);
  return { engine, shadowDir };
}

describe('a shadow policy set is evaluated beside the enforced one and never decides', () => {
  it('reports a mismatch under the enforced decision id, and the enforced decision stands', async () => {
    const mismatches: ShadowMismatch[] = [];
    const { engine } = await shadowed((m) => mismatches.push(m));
    const decision = engine.authorize(agentRequest());
    expect(decision).toMatchObject({ decision: 'allow', policies: ['permit-all'] });
    expect(mismatches).toEqual([
      {
        decisionId: decision.id,
        enforced: 'allow',
        shadow: 'deny',
        enforcedPolicies: ['permit-all'],
        shadowPolicies: ['no-writes'],
      },
    ]);
  });

  it('stays silent when both sets agree', async () => {
    const mismatches: ShadowMismatch[] = [];
    const { engine } = await shadowed((m) => mismatches.push(m));
    expect(engine.authorize(agentRequest({ action: 'read' })).decision).toBe('allow');
    expect(mismatches).toEqual([]);
  });

  it('keeps the enforced decision when the mismatch observer throws', async () => {
    const { engine } = await shadowed(() => {
      throw new Error('observer failed');
    });
    expect(engine.authorize(agentRequest()).decision).toBe('allow');
  });

  it('reloads the shadow set on its own, and a bad shadow set leaves the enforced one alone', async () => {
    const reloads: Array<[string, ReloadInfo]> = [];
    const mismatches: ShadowMismatch[] = [];
    const { engine, shadowDir } = await shadowed(
      (m) => mismatches.push(m),
      (r, i) => reloads.push([r, i]),
    );
    await writePolicies(shadowDir, { 'b.cedar': '@id("broken")\npermit (principal, action, resource) when { x };' });
    expect(await engine.reload()).toBe(false);
    expect(reloads.map(([r, i]) => `${i.set}:${r}`)).toEqual(['enforced:ok', 'shadow:rejected']);
    expect(engine.authorize(agentRequest()).decision).toBe('allow');
    expect(mismatches).toHaveLength(1);
  });
});
