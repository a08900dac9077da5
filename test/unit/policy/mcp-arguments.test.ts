import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestSchema, toAuthorizationRequest } from '../../../gateway/policy/cases.js';
import { cachedVerdicts, evaluate } from '../../../gateway/policy/decide.js';
import { compileDir } from '../../../gateway/policy/engine.js';
import { explain } from '../../../gateway/policy/tooling.js';
import { REPO_POLICIES } from '../../support/escrow.js';

const SCHEMA = readFileSync(join(REPO_POLICIES, 'schema.cedarschema'), 'utf8');

function policyDir(args: string, policies: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-mcp-args-'));
  writeFileSync(
    join(dir, 'schema.cedarschema'),
    SCHEMA.replace('type McpArguments = {};', `type McpArguments = ${args};`),
  );
  writeFileSync(join(dir, 'mcp.cedar'), policies);
  return dir;
}

const ARGS = '{ query?: String, limit?: Long, tags?: Set<String>, options?: { dryRun: Bool }, from?: ipaddr }';
const POLICIES = `
@id("search-small")
permit (principal, action == Escrow::Action::"callTool", resource)
when { context.mcp.tool == "search" && context.mcp.arguments has limit && context.mcp.arguments.limit <= 10 };

@id("no-prod-queries")
forbid (principal, action == Escrow::Action::"callTool", resource)
when { context.mcp.arguments has query && context.mcp.arguments.query like "*prod*" };

@id("deploy-dry-run")
permit (principal, action == Escrow::Action::"callTool", resource)
when { context.mcp.tool == "deploy" && context.mcp.arguments has options && context.mcp.arguments.options.dryRun };

@id("no-force")
forbid (principal, action == Escrow::Action::"callTool", resource)
when { context.mcp.argumentNames.contains("force") };

@id("tagged")
permit (principal, action == Escrow::Action::"callTool", resource)
when { context.mcp.tool == "tag" && context.mcp.arguments has tags && context.mcp.arguments.tags.contains("ok")
       && context.mcp.arguments has from && context.mcp.arguments.from.isInRange(ip("10.0.0.0/8")) };
`;

const ask = (dir: string, tool: string, args: Record<string, unknown>) =>
  explain(dir, {
    action: 'callTool',
    target: { name: 'docs' },
    context: { mcp: { tool, arguments: args } },
  });

describe('tool arguments in Cedar: the schema declares which, and as which type', () => {
  let dir: string;
  beforeAll(() => {
    dir = policyDir(ARGS, POLICIES);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lets policies compare typed arguments', async () => {
    expect((await ask(dir, 'search', { query: 'docs', limit: 10 })).decision).toBe('allow');
    expect((await ask(dir, 'search', { query: 'docs', limit: 11 })).decision).toBe('deny');
    expect((await ask(dir, 'search', { query: 'prod db', limit: 1 })).policies).toEqual(['no-prod-queries']);
    expect((await ask(dir, 'deploy', { options: { dryRun: true } })).decision).toBe('allow');
    expect((await ask(dir, 'deploy', { options: { dryRun: false } })).decision).toBe('deny');
    expect((await ask(dir, 'tag', { tags: ['ok', 'x'], from: '10.1.2.3' })).decision).toBe('allow');
  });

  it('denies a call whose declared argument has another type: no coercion, no way around a forbid', async () => {
    for (const args of [
      { query: ['prod'], limit: 1 },
      { query: 'docs', limit: '1' },
      { query: 'docs', limit: 1.5 },
      { query: 'docs', limit: 2 ** 60 },
      { options: { dryRun: 'true' } },
      { options: {} },
      { tags: ['ok', 3] },
    ]) {
      const verdict = await ask(dir, 'search', args);
      expect(verdict.decision).toBe('deny');
      expect(verdict.errors.join(' ')).toMatch(/argument .* (is not a|is required)/);
      expect(verdict.errors.join(' ')).not.toMatch(/prod|docs/); // names, never values
    }
  });

  it('denies a malformed extension value (Cedar refuses it, which denies)', async () => {
    expect((await ask(dir, 'tag', { tags: ['ok'], from: 'not an ip' })).decision).toBe('deny');
  });

  it('shows every argument name, declared or not, and never an undeclared value', async () => {
    expect((await ask(dir, 'search', { limit: 1, force: true })).policies).toEqual(['no-force']);
    expect((await ask(dir, 'search', { limit: 1, secretish: { deep: [1] } })).decision).toBe('allow');
  });

  it('refuses at load a schema that declares an argument of an entity type', async () => {
    const bad = policyDir('{ owner?: Target }', '');
    try {
      await expect(ask(bad, 'search', {})).rejects.toThrow(/McpArguments\.owner: arguments can be/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});

describe('the decision cache and large arguments', () => {
  it('decides a call with a large declared argument without keeping it in the cache', async () => {
    const dir = policyDir(
      '{ query?: String }',
      '@id("all")\npermit (principal, action == Escrow::Action::"callTool", resource)\nwhen { context.mcp.arguments has query };',
    );
    const set = await compileDir(dir);
    try {
      const ask = (query: string) => {
        const request = toAuthorizationRequest(
          requestSchema.parse({
            action: 'callTool',
            target: { name: 'docs' },
            context: { mcp: { tool: 't', arguments: { query } } },
          }),
        );
        return evaluate(set, request, request.now).decision;
      };
      expect(ask('small')).toBe('allow');
      expect(cachedVerdicts(set)).toBe(1);
      for (let i = 0; i < 20; i++) expect(ask(`${i}${'x'.repeat(100_000)}`)).toBe('allow');
      expect(cachedVerdicts(set)).toBe(1);
    } finally {
      set.release();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
