import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Logger } from '../../gateway/log.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startMcpServer, type TestMcpServer } from '../support/mcp-server.js';

/** The docs server's key: a canary that must reach the server and never the agent. */
export const MCP_KEY = 'mcp-canary-key-5c1e9a7f3b2d8e40';

/** Policies of the worked example (docs/mcp.md): search yes, delete_* never, public docs only, one prompt. */
export const MCP_POLICIES = {
  'open-task.cedar': `@id("open-task")
permit (principal is Escrow::Agent, action == Escrow::Action::"openTask", resource);`,
  'mcp.cedar': `@id("mcp-session")
permit (
  principal is Escrow::Agent,
  action in [Escrow::Action::"useSession", Escrow::Action::"listTools", Escrow::Action::"listResources",
             Escrow::Action::"listPrompts"],
  resource == Escrow::Target::"docs"
);

@id("mcp-tools")
permit (principal is Escrow::Agent, action == Escrow::Action::"callTool", resource == Escrow::Target::"docs")
when { ["search", "whoami"].contains(context.mcp.tool) };

@id("mcp-no-delete")
forbid (principal, action == Escrow::Action::"callTool", resource)
when { context.mcp.tool like "delete_*" };

@id("mcp-public-docs")
permit (principal is Escrow::Agent, action == Escrow::Action::"readResource", resource == Escrow::Target::"docs")
when { context.mcp.resource like "docs://public/*" };

@id("mcp-prompts")
permit (principal is Escrow::Agent, action == Escrow::Action::"getPrompt", resource == Escrow::Target::"docs")
when { context.mcp.prompt == "summarize" };`,
};

export interface McpWorld {
  readonly escrow: TestEscrow;
  readonly server: TestMcpServer;
  close(): Promise<void>;
}

/** A real MCP server (official SDK) behind a real Escrow, as target `docs`. */
export async function startMcpWorld(options: {
  json: boolean;
  store?: 'redis' | 'memory';
  mcp?: Record<string, unknown>;
  policies?: Record<string, string>;
  target?: Record<string, unknown>;
  log?: Logger;
}): Promise<McpWorld> {
  const server = await startMcpServer({ apiKey: MCP_KEY, json: options.json });
  const escrow = await startEscrow({
    store: options.store ?? 'redis',
    ...(options.log ? { log: options.log } : {}),
    env: { MCP_KEY },
    policies: options.policies ?? MCP_POLICIES,
    targets: [
      {
        name: 'docs',
        protocol: 'mcp',
        upstream: server.url,
        attributes: { environment: 'prod' },
        credential: { adapter: 'header', header: 'authorization', template: 'Bearer {secret}', value: 'env:MCP_KEY' },
        ...(options.mcp ? { mcp: options.mcp } : {}),
        ...options.target,
      },
    ],
  });
  return {
    escrow,
    server,
    async close() {
      await escrow.close();
      await server.close();
    },
  };
}

/** An agent's MCP client (the official SDK) pointed at Escrow with its workload token and task. */
export async function connectAgent(
  escrow: TestEscrow,
  token: string,
  task: string,
  extra: { sessionId?: string; headers?: Record<string, string> } = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport; errors: Error[] }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${escrow.url}/docs`), {
    requestInit: { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task, ...extra.headers } },
    ...(extra.sessionId ? { sessionId: extra.sessionId } : {}),
    reconnectionOptions: {
      maxRetries: 0,
      initialReconnectionDelay: 10,
      maxReconnectionDelay: 10,
      reconnectionDelayGrowFactor: 1,
    },
  });
  const errors: Error[] = [];
  const client = new Client({ name: 'agent', version: '1.0.0' });
  client.onerror = (error) => errors.push(error);
  await client.connect(transport);
  return { client, transport, errors };
}
