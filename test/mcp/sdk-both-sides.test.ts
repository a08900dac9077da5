import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAgent, MCP_KEY, type McpWorld, startMcpWorld } from './support.js';

describe.each([
  { mode: 'JSON answers', json: true },
  { mode: 'SSE answers', json: false },
])('the official MCP SDK on both sides, through Escrow ($mode)', ({ json }) => {
  let world: McpWorld;
  let token: string;
  let task: string;
  let agent: Awaited<ReturnType<typeof connectAgent>>;

  beforeAll(async () => {
    world = await startMcpWorld({ json });
    token = await world.escrow.token();
    task = await world.escrow.openTask(token, ['docs'], 'research the docs');
    agent = await connectAgent(world.escrow, token, task);
  });
  afterAll(async () => {
    await agent?.client.close();
    await world?.close();
  });

  it('runs an allowed tool call, and the server received the injected key (never the agent token)', async () => {
    const result = await agent.client.callTool({ name: 'search', arguments: { query: 'escrow' } });
    expect(result.content).toEqual([{ type: 'text', text: '3 results for escrow' }]);
    const call = world.server.requests.find((r) => r.body.includes('"tools/call"'))!;
    expect(call.headers.authorization).toBe(`Bearer ${MCP_KEY}`);
    expect(call.headers['x-escrow-task']).toBeUndefined();
    expect(JSON.stringify(world.server.requests.map((r) => r.headers))).not.toContain(token);
  });

  it('refuses a denied tool with a JSON-RPC error carrying the decision id, and never calls the server', async () => {
    const before = world.server.requests.length;
    const error = await agent.client.callTool({ name: 'delete_everything', arguments: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    const mcpError = error as McpError;
    expect(mcpError.code).toBe(-32010);
    expect(mcpError.message).toMatch(/Denied by policy \(decision dec_[0-9a-f]{16}\)/);
    expect((mcpError.data as { decisionId: string }).decisionId).toMatch(/^dec_[0-9a-f]{16}$/);
    expect(world.server.calls).not.toContain('delete_everything');
    expect(world.server.requests.length).toBe(before);
  });

  it('leaves denied tools out of tools/list', async () => {
    const { tools } = await agent.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['search', 'whoami']);
  });

  it('filters resources, resource templates and prompts the same way', async () => {
    const { resources } = await agent.client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(['docs://public/readme']);
    const { resourceTemplates } = await agent.client.listResourceTemplates();
    expect(resourceTemplates.map((r) => r.uriTemplate)).toEqual(['docs://public/pages/{name}']);
    const { prompts } = await agent.client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(['summarize']);
    const readme = await agent.client.readResource({ uri: 'docs://public/readme' });
    expect(readme.contents[0]).toMatchObject({ text: 'hello' });
    await expect(agent.client.readResource({ uri: 'docs://private/payroll' })).rejects.toMatchObject({ code: -32010 });
  });

  it('never shows the agent the key, even when the server echoes it', async () => {
    const result = await agent.client.callTool({ name: 'whoami', arguments: {} });
    const text = JSON.stringify(result);
    expect(text).not.toContain(MCP_KEY);
    expect(text).toContain('*'.repeat(MCP_KEY.length));
  });

  it('audits one mcp.call event per call, with method, tool and decision, and no argument values', async () => {
    const events = (await world.escrow.auditEvents()).filter((e) => e.event === 'mcp.call');
    const search = events.find((e) => (e.mcp as { name?: string }).name === 'search')!;
    expect(search).toMatchObject({ decision: 'allow', action: 'callTool', target: 'docs', policies: ['mcp-tools'] });
    expect(search.mcp).toMatchObject({ method: 'tools/call', argumentNames: ['query'] });
    expect(JSON.stringify(events)).not.toContain('escrow"'); // the query's value
    const denied = events.find((e) => (e.mcp as { name?: string }).name === 'delete_everything')!;
    expect(denied).toMatchObject({ decision: 'deny', policies: ['mcp-no-delete'] });
  });
});
