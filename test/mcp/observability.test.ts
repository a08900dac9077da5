import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../gateway/log.js';
import { connectAgent, MCP_KEY, type McpWorld, startMcpWorld } from './support.js';

const QUERY = 'query-canary-93b1e07d';

describe('MCP audit events and metrics: bounded labels, no secret, no token, argument values only when asked', () => {
  let world: McpWorld;
  let token: string;
  const logs: string[] = [];

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        logs.push(String(chunk));
        callback();
      },
    });
    world = await startMcpWorld({
      json: false,
      mcp: { toolLabels: ['search'], auditArguments: true },
      log: createLogger({ level: 'debug', destination }),
    });
    token = await world.escrow.token();
    const task = await world.escrow.openTask(token, ['docs'], 'research');
    const agent = await connectAgent(world.escrow, token, task);
    await agent.client.callTool({ name: 'search', arguments: { query: QUERY, note: token } });
    await agent.client.callTool({ name: 'whoami', arguments: {} });
    await agent.client.callTool({ name: `delete_${'x'.repeat(300)}`, arguments: {} }).catch(() => {});
    await agent.client.listTools();
    await agent.client.close();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('labels tools named in mcp.toolLabels and counts every other tool as `other`', async () => {
    const text = await world.escrow.gw.metrics.exposition();
    expect(text).toMatch(
      /escrow_mcp_calls_total\{target="docs",method="tools\/call",tool="search",decision="allow"\} 1/,
    );
    expect(text).toMatch(
      /escrow_mcp_calls_total\{target="docs",method="tools\/call",tool="other",decision="allow"\} 1/,
    );
    expect(text).toMatch(/escrow_mcp_calls_total\{target="docs",method="tools\/call",tool="other",decision="deny"\} 1/);
    expect(text).toMatch(/escrow_mcp_list_items_hidden_total\{target="docs",list="tools"\} 2/);
    expect(text).not.toContain('whoami');
    expect(text).not.toContain('delete_');
    expect(text).not.toContain(MCP_KEY);
    expect(text).not.toContain(token);
  });

  it('puts argument values in the audit event when configured, but never the token an agent passed as one', async () => {
    const events = await world.escrow.auditEvents();
    const search = events.find((e) => e.event === 'mcp.call' && (e.mcp as { name?: string }).name === 'search')!;
    expect((search.mcp as { arguments: Record<string, unknown> }).arguments).toEqual({ query: QUERY });
    const all = JSON.stringify(events);
    expect(all).not.toContain(token);
    expect(all).not.toContain(MCP_KEY);
    const long = events.find((e) => String((e.mcp as { name?: string } | undefined)?.name).startsWith('delete_'))!;
    expect(String((long.mcp as { name: string }).name).length).toBeLessThanOrEqual(513);
  });

  it('logs nothing of it', () => {
    const joined = logs.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(joined).not.toContain(MCP_KEY);
    expect(joined).not.toContain(token);
  });
});
