import { afterEach, describe, expect, it } from 'vitest';
import { createPolicyEngine, type LoadedPolicyEngine } from '../../../gateway/policy/engine.js';
import { agentRequest, makePolicyDir, removeDir } from '../../policy/fixtures/dirs.js';

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

const PATH_POLICY = `@id("no-admin-paths")
forbid (principal, action, resource) when { context.request.path like "/admin*" };
@id("permit-all")
permit (principal, action, resource);
`;

describe('the decision cache is exact: a cached verdict is reused only where no policy could tell the difference', () => {
  it('decides a request again when a field the policies read changes', async () => {
    const engine = await engineWith({ 'p.cedar': PATH_POLICY });
    const ok = agentRequest({ request: { method: 'POST', path: '/v1/items', queryKeys: [] } });
    const admin = agentRequest({ request: { method: 'POST', path: '/admin/users', queryKeys: [] } });
    expect(engine.authorize(ok).decision).toBe('allow');
    expect(engine.authorize(admin).decision).toBe('deny');
    expect(engine.authorize(ok).decision).toBe('allow');
    expect(engine.authorize(admin).policies).toEqual(['no-admin-paths']);
  });

  it('gives every decision its own id, cached or not', async () => {
    const engine = await engineWith({ 'p.cedar': PATH_POLICY });
    const a = engine.authorize(agentRequest());
    const b = engine.authorize(agentRequest());
    expect(a.decision).toBe(b.decision);
    expect(a.id).not.toBe(b.id);
  });

  it('never caches a verdict with evaluation errors', async () => {
    const overflow = `@id("broken")
forbid (principal, action, resource) when { context has task && context.task.ageSeconds * 4611686018427387904 > 0 };
@id("permit-all")
permit (principal, action, resource);
`;
    const engine = await engineWith({ 'p.cedar': overflow });
    for (let i = 0; i < 3; i++) {
      const decision = engine.authorize(agentRequest());
      expect(decision.decision).toBe('deny');
      expect(decision.errors).toHaveLength(1);
    }
  });
});
