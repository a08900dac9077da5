import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { SeenRequest } from './mcp-server.js';

export interface TestModernMcpServer {
  readonly url: string;
  readonly requests: SeenRequest[];
  readonly calls: string[];
  close(): Promise<void>;
}

function buildServer(calls: string[], apiKeyOf: () => string): McpServer {
  const server = new McpServer({ name: 'docs-server-2026', version: '2.0.0' });
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  server.registerTool('search', { description: 'Search', inputSchema: z.object({ query: z.string() }) }, async (a) => {
    calls.push('search');
    return text(`3 results for ${a.query}`);
  });
  server.registerTool('delete_everything', { description: 'Delete every document' }, async () => {
    calls.push('delete_everything');
    return text('deleted everything');
  });
  server.registerTool('whoami', { description: 'Echo the credential' }, async () => {
    calls.push('whoami');
    return text(`you called me with ${apiKeyOf()}`);
  });
  return server;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** node:http → the SDK's web-standard handler, and back. */
async function serve(
  handler: { fetch(request: Request): Promise<Response> },
  req: IncomingMessage,
  res: ServerResponse,
  body: string,
): Promise<void> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers.set(name, value);
  }
  const request = new Request(`http://${req.headers.host}${req.url}`, {
    method: req.method ?? 'GET',
    headers,
    ...(req.method === 'POST' ? { body } : {}),
  });
  const response = await handler.fetch(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body) for await (const chunk of response.body) res.write(chunk);
  res.end();
}

/**
 * A real MCP server of the current protocol revision (2026-07-28, stateless: no session, no initialize), built with
 * the official v2 SDK (`@modelcontextprotocol/server`), modern requests only, behind its API key.
 */
export async function startModernMcpServer(options: { apiKey: string; json: boolean }): Promise<TestModernMcpServer> {
  const requests: SeenRequest[] = [];
  const calls: string[] = [];
  let lastKey = '';
  const handler = createMcpHandler(() => buildServer(calls, () => lastKey), {
    legacy: 'reject',
    responseMode: options.json ? 'json' : 'sse',
    keepAliveMs: 0,
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = req.method === 'POST' ? await readBody(req) : '';
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid api key"}');
      return;
    }
    lastKey = req.headers.authorization.slice('Bearer '.length);
    await serve(handler, req, res, body);
  };
  const http: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    requests,
    calls,
    async close() {
      await handler.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
