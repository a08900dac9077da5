import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPolicyEngine, type LoadedPolicyEngine, type ReloadInfo } from '../../../gateway/policy/engine.js';
import { agentRequest, makePolicyDir, removeDir, writePolicies } from '../../policy/fixtures/dirs.js';

const READS = '@id("reads")\npermit (principal, action == Escrow::Action::"read", resource);\n';
const WRITES = '@id("writes")\npermit (principal, action == Escrow::Action::"write", resource);\n';
const INVALID = '@id("typo")\npermit (principal, action, resource) when { resource.enviroment == "dev" };\n';

const dirs: string[] = [];
const engines: LoadedPolicyEngine[] = [];

interface Harness {
  dir: string;
  engine: LoadedPolicyEngine;
  reloads: Array<{ result: string; info: ReloadInfo }>;
  warnings: Array<{ o: object; msg: string }>;
}

async function harness(files: Record<string, string>, watch = false): Promise<Harness> {
  const dir = await makePolicyDir(files);
  dirs.push(dir);
  const reloads: Harness['reloads'] = [];
  const warnings: Harness['warnings'] = [];
  const engine = await createPolicyEngine({
    dir,
    watch,
    watchDebounceMs: 50,
    onReload: (result, info) => reloads.push({ result, info }),
    logger: { info: () => undefined, warn: (o, msg) => warnings.push({ o, msg }) },
  });
  engines.push(engine);
  return { dir, engine, reloads, warnings };
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterEach(async () => {
  for (const e of engines.splice(0)) e.close();
  for (const d of dirs.splice(0)) await removeDir(d);
});

describe('a good reload swaps in the new policy set', () => {
  it('decides with the new policies and reports ok with the new hash', async () => {
    const h = await harness({ 'a.cedar': READS });
    const before = h.engine.policySetHash;
    expect(h.engine.authorize(agentRequest()).decision).toBe('deny');
    await writePolicies(h.dir, { 'b.cedar': WRITES });
    expect(await h.engine.reload()).toBe(true);
    expect(h.engine.authorize(agentRequest())).toMatchObject({ decision: 'allow', policies: ['writes'] });
    expect(h.engine.policyCount).toBe(2);
    expect(h.engine.policySetHash).not.toBe(before);
    expect(h.reloads).toEqual([{ result: 'ok', info: { hash: h.engine.policySetHash, set: 'enforced' } }]);
  });

  it('stops deciding with a removed policy', async () => {
    const h = await harness({ 'a.cedar': READS, 'b.cedar': WRITES });
    expect(h.engine.authorize(agentRequest()).decision).toBe('allow');
    await rm(join(h.dir, 'b.cedar'));
    expect(await h.engine.reload()).toBe(true);
    expect(h.engine.authorize(agentRequest()).decision).toBe('deny');
  });
});

describe('a bad reload keeps the last good set', () => {
  it('keeps deciding with the old policies, warns why and reports rejected', async () => {
    const h = await harness({ 'a.cedar': WRITES });
    const hash = h.engine.policySetHash;
    await writePolicies(h.dir, { 'a.cedar': INVALID });
    expect(await h.engine.reload()).toBe(false);
    expect(h.engine.authorize(agentRequest())).toMatchObject({ decision: 'allow', policies: ['writes'] });
    expect(h.engine.policySetHash).toBe(hash);
    expect(h.reloads).toHaveLength(1);
    expect(h.reloads[0]).toMatchObject({ result: 'rejected', info: { hash, set: 'enforced' } });
    expect(h.reloads[0]?.info.error).toContain('a.cedar (typo)');
    expect(h.warnings[0]?.msg).toMatch(/rejected/);
  });

  it('keeps the old set when a policy loses its @id or the schema disappears', async () => {
    const h = await harness({ 'a.cedar': WRITES });
    await writePolicies(h.dir, { 'b.cedar': 'permit (principal, action, resource);' });
    expect(await h.engine.reload()).toBe(false);
    await rm(join(h.dir, 'b.cedar'));
    await rm(join(h.dir, 'schema.cedarschema'));
    expect(await h.engine.reload()).toBe(false);
    expect(h.engine.authorize(agentRequest()).decision).toBe('allow');
    expect(h.reloads.map((r) => r.result)).toEqual(['rejected', 'rejected']);
  });
});

describe('a watched policy directory reloads on change', () => {
  it('picks up a new file without an explicit reload, then rejects a broken edit', async () => {
    const h = await harness({ 'a.cedar': READS }, true);
    await writePolicies(h.dir, { 'sub/b.cedar': WRITES });
    await until(() => h.reloads.some((r) => r.result === 'ok'));
    expect(h.engine.authorize(agentRequest()).decision).toBe('allow');
    await writePolicies(h.dir, { 'sub/b.cedar': INVALID });
    await until(() => h.reloads.some((r) => r.result === 'rejected'));
    expect(h.engine.authorize(agentRequest()).decision).toBe('allow');
  });
});
