import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { agentFromEnv, closeTask, type EscrowAgent, isMain, openTask } from '../agents/escrow-client.js';

/**
 * The official MCP SDK client, unmodified, talking to an MCP server through Escrow. The server's URL is
 * `<escrow>/<target>`; every request carries the current workload token (asked for per request: SVIDs rotate) and
 * the task. The server's own API key never reaches this process: Escrow injects it, and masks it in every answer.
 */
export async function mcpViaEscrow(agent: EscrowAgent, taskId: string, target = 'prod-mcp'): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${agent.url}/${target}`), {
    fetch: async (url, init) => {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `Bearer ${await agent.token()}`);
      headers.set('x-escrow-task', taskId);
      return fetch(url, { ...init, headers });
    },
  });
  const client = new Client({ name: 'research-agent', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** List the tools this agent may call now, and run one search. */
export async function research(client: Client, query: string): Promise<{ tools: string[]; answer: string }> {
  const { tools } = await client.listTools();
  const result = await client.callTool({ name: 'search', arguments: { query, limit: 10 } });
  const content = result.content as { type: string; text?: string }[];
  return { tools: tools.map((t) => t.name), answer: content.map((c) => c.text ?? '').join('\n') };
}

// npx tsx examples/mcp/agent.ts "query"   (ESCROW_URL, ESCROW_TOKEN; see docs/mcp.md)
if (isMain(import.meta.url)) {
  const agent = agentFromEnv();
  const task = await openTask(agent, {
    intent: 'research: answer one question',
    targets: ['prod-mcp'],
    ttlSeconds: 300,
  });
  try {
    const client = await mcpViaEscrow(agent, task.id);
    const { tools, answer } = await research(client, process.argv[2] ?? 'escrow');
    console.log(`tools I may call: ${tools.join(', ')}\n${answer}`);
    // A tool the policy forbids is refused by Escrow with a JSON-RPC error naming the decision.
    await client.callTool({ name: 'delete_index', arguments: {} }).catch((error: Error) => console.log(error.message));
    await client.close();
  } finally {
    await closeTask(agent, task.id); // ends the MCP session too
  }
}
