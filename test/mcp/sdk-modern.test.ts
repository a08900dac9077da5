import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startModernMcpServer, type TestModernMcpServer } from '../support/mcp-modern-server.js';
import { MCP_KEY, MCP_POLICIES } from './support.js';

describe.each([
  { mode: 'JSON answers', json: true },
  { mode: 'SSE answers', json: false },
])('protocol 2026-07-28 (stateless), the official v2 SDK on both sides ($mode)', ({ json }) => {
  let server: TestModernMcpServer;
  let escrow: TestEscrow;
  let client: Client;
  let token: string;

  beforeAll(async () => {
    server = await startModernMcpServer({ apiKey: MCP_KEY, json });
    escrow = await startEscrow({
      env: { MCP_KEY },
      policies: MCP_POLICIES,
      targets: [
        {
          name: 'docs',
          protocol: 'mcp',
          upstream: server.url,
          attributes: { environment: 'prod' },
          credential: { adapter: 'header', header: 'authorization', template: 'Bearer {secret}', value: 'env:MCP_KEY' },
        },
      ],
    });
    token = await escrow.token();
    const task = await escrow.openTask(token, ['docs'], 'research');
    client = new Client({ name: 'agent', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${escrow.url}/docs`), {
        requestInit: { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } },
      }),
    );
  });
  afterAll(async () => {
    await client?.close();
    await escrow?.close();
    await server?.close();
  });

  it('speaks the current revision end to end', () => {
    expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
  });

  it('runs an allowed tool call with the injected key, the mirrored headers checked against the body', async () => {
    const result = await client.callTool({ name: 'search', arguments: { query: 'escrow' } });
    expect(result.content).toEqual([{ type: 'text', text: '3 results for escrow' }]);
    const seen = server.requests.find((r) => r.body.includes('"tools/call"'))!;
    expect(seen.headers.authorization).toBe(`Bearer ${MCP_KEY}`);
    expect(seen.headers['mcp-method']).toBe('tools/call');
    expect(seen.headers['mcp-name']).toBe('search');
    expect(JSON.stringify(server.requests.map((r) => r.headers))).not.toContain(token);
  });

  it('refuses a denied tool with a JSON-RPC error carrying the decision id', async () => {
    const error = await client.callTool({ name: 'delete_everything', arguments: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(-32010);
    expect((error as Error).message).toMatch(/decision dec_[0-9a-f]{16}/);
    expect(server.calls).not.toContain('delete_everything');
  });

  it('leaves denied tools out of tools/list and marks the list private to shared caches', async () => {
    const listed = await client.listTools();
    expect(listed.tools.map((t) => t.name).sort()).toEqual(['search', 'whoami']);
    expect((listed as { cacheScope?: string }).cacheScope).toBe('private');
  });

  it('masks the key in an answer that echoes it', async () => {
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    expect(JSON.stringify(result)).not.toContain(MCP_KEY);
  });
});
