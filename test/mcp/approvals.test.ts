import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawAgent, rawAgent } from './raw.js';
import { connectAgent, MCP_POLICIES, type McpWorld, startMcpWorld } from './support.js';

// An MCP call cannot be held for a person and retried as the same request, and one approved POST to the endpoint
// must not unlock every tool: a call whose allow waits for a person is refused (never forwarded), an @approval
// forbid keeps forbidding, and such tools are not listed.
const POLICIES = {
  ...MCP_POLICIES,
  'approvals.cedar': `@id("search-asks-a-person")
@approval("required")
permit (principal is Escrow::Agent, action == Escrow::Action::"callTool", resource == Escrow::Target::"docs")
when { context.mcp.tool == "search" };

@id("whoami-unless-approved")
@approval("required")
forbid (principal, action == Escrow::Action::"callTool", resource)
when { context.mcp.tool == "whoami" };`,
};

describe('MCP calls that policy wants a person to approve', () => {
  let world: McpWorld;
  let agent: RawAgent;
  let token: string;
  let task: string;

  beforeAll(async () => {
    world = await startMcpWorld({ json: true, store: 'memory', policies: POLICIES });
    token = await world.escrow.token();
    task = await world.escrow.openTask(token, ['docs'], 'probe approvals');
    agent = await rawAgent(world.escrow, token, task);
  });
  afterAll(async () => {
    await world?.close();
  });

  it('refuses an @approval permit’s call and an @approval forbid’s call; the server sees neither', async () => {
    for (const [id, name] of [
      [1, 'search'],
      [2, 'whoami'],
    ] as const) {
      const before = world.server.requests.length;
      const { status, body } = await agent.json({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name, arguments: name === 'search' ? { query: 'x' } : {} },
      });
      expect(world.server.requests.length).toBe(before);
      expect(status).toBe(200);
      expect(body).toMatchObject({ id, error: { data: { reason: 'approval_unsupported' } } });
    }
    await world.escrow.gw.audit.flush();
    const events = await world.escrow.auditEvents();
    const decided = events.filter(
      (e) => e.event === 'mcp.call' && ['search', 'whoami'].includes((e.mcp as { name?: string }).name ?? ''),
    );
    expect(decided).toHaveLength(2);
    for (const e of decided)
      expect(e).toMatchObject({ decision: 'deny', errors: [expect.stringMatching(/^approval:/)] });
    expect(events.filter((e) => String(e.event).startsWith('approval.'))).toEqual([]);
  });

  it('does not list the tools that wait for a person', async () => {
    const { client } = await connectAgent(world.escrow, token, task);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).not.toContain('search');
      expect(names).not.toContain('whoami');
    } finally {
      await client.close();
    }
  });
});
