import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { EscrowAgent } from '../../examples/agents/escrow-client.js';
import { closeTask, openTask } from '../../examples/agents/escrow-client.js';
import { mcpViaEscrow, research } from '../../examples/mcp/agent.js';
import { runPolicyTests } from '../../gateway/policy/tooling.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startMcpServer, type TestMcpServer } from '../support/mcp-server.js';

const EXAMPLE = resolve(import.meta.dirname, '../../examples/mcp');
const KEY = 'docs-mcp-canary-7e4b1c9d2a5f8036';

/** The target entry exactly as examples/mcp/escrow.yaml documents it, pointed at a local MCP server. */
function exampleTarget(upstream: string): Record<string, unknown> {
  const config = parse(readFileSync(resolve(EXAMPLE, 'escrow.yaml'), 'utf8')) as { targets: Record<string, unknown>[] };
  return { ...config.targets[0], upstream };
}

describe('examples/mcp: an agent uses the MCP SDK client; policy allows search and never delete_* on prod', () => {
  let server: TestMcpServer;
  let escrow: TestEscrow;
  let agent: EscrowAgent;

  beforeAll(async () => {
    server = await startMcpServer({ apiKey: KEY, json: false });
    escrow = await startEscrow({
      env: { DOCS_MCP_KEY: KEY },
      targets: [exampleTarget(server.url)],
      config: { policies: resolve(EXAMPLE, 'policies') },
    });
    const token = await escrow.token();
    agent = { url: escrow.url, token: async () => token };
  });
  afterAll(async () => {
    await escrow?.close();
    await server?.close();
  });

  it('passes its policy test cases', async () => {
    const report = await runPolicyTests(resolve(EXAMPLE, 'policies'), resolve(EXAMPLE, 'policies/tests'));
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
  });

  it('lists only search, runs it with the server key injected, and is refused delete_*', async () => {
    const task = await openTask(agent, { intent: 'research: escrow', targets: ['prod-mcp'], ttlSeconds: 300 });
    const client = await mcpViaEscrow(agent, task.id);
    const { tools, answer } = await research(client, 'escrow');
    expect(tools).toEqual(['search']);
    expect(answer).toBe('3 results for escrow');
    expect(server.requests.at(-1)!.headers.authorization).toBe(`Bearer ${KEY}`);
    const refused = await client.callTool({ name: 'delete_everything', arguments: {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).data).toMatchObject({ reason: 'policy_denied' });
    expect(server.calls).toEqual(['search']);
    await closeTask(agent, task.id);
    await expect(client.listTools()).rejects.toThrow(/403/);
    await client.close();
  });

  it('refuses a task that is not research', async () => {
    await expect(openTask(agent, { intent: 'drop the index', targets: ['prod-mcp'] })).rejects.toThrow(/policy_denied/);
  });
});
