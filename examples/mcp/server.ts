import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/**
 * A stand-in for a hosted MCP server that wants an API key, for trying examples/mcp locally:
 *
 *   DOCS_MCP_KEY=… npx tsx examples/mcp/server.ts     # listens on 127.0.0.1:3001/mcp
 */
const key = process.env.DOCS_MCP_KEY ?? '';
if (key === '') throw new Error('set DOCS_MCP_KEY');
const sessions = new Map<string, StreamableHTTPServerTransport>();

function docsServer(): McpServer {
  const server = new McpServer({ name: 'docs', version: '1.0.0' });
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  const searchArgs = { query: z.string(), limit: z.number().int().optional() };
  server.registerTool('search', { description: 'Search the docs', inputSchema: searchArgs }, async (a) =>
    text(`results for ${a.query} (at most ${a.limit ?? 20})`),
  );
  server.registerTool('delete_index', { description: 'Drop the search index' }, async () => text('index dropped'));
  return server;
}

createServer(async (req, res) => {
  if (req.headers.authorization !== `Bearer ${key}`) return void res.writeHead(401).end();
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body: unknown = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
  const id = req.headers['mcp-session-id'] as string | undefined;
  let transport = id ? sessions.get(id) : undefined;
  if (!transport && !id && isInitializeRequest(body)) {
    const created = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => void sessions.set(sid, created),
      onsessionclosed: (sid) => void sessions.delete(sid),
    });
    await docsServer().connect(created);
    transport = created;
  }
  if (!transport) return void res.writeHead(404).end();
  await transport.handleRequest(req, res, body);
}).listen(3001, '127.0.0.1');
