import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/** One HTTP request the MCP server received, as it arrived. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface TestMcpServer {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  readonly url: string;
  readonly requests: SeenRequest[];
  /** Tool calls the server executed, by tool name. */
  readonly calls: string[];
  /** Open GET (standalone SSE) responses, and how many have closed. */
  readonly streams: { open: number; closed: number };
  /** Resolves when the next GET stream opens (`'open'`) or closes (`'close'`) at the server. */
  nextStream(event: 'open' | 'close'): Promise<unknown>;
  /** Sessions the server holds. */
  sessionCount(): number;
  /** Send `notifications/tools/list_changed` on every session (it travels on the GET stream). */
  notifyToolsChanged(): Promise<void>;
  close(): Promise<void>;
}

export interface McpServerOptions {
  /** The key the server requires as `Authorization: Bearer <key>` (401 otherwise, like a real hosted server). */
  readonly apiKey: string;
  /** Instead of `apiKey`: accept a request when this resolves true (e.g. an OAuth access token that verifies). */
  readonly accept?: (authorization: string | undefined) => Promise<boolean>;
  /** Answer POSTs with one JSON object instead of an SSE stream. */
  readonly json: boolean;
}

/** Tools, resources and prompts of a small "docs" server: what the tests authorize call by call. */
function buildServer(calls: string[], apiKeyOf: () => string): McpServer {
  const server = new McpServer({ name: 'docs-server', version: '1.0.0' }, { capabilities: { logging: {} } });
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  server.registerTool('search', { description: 'Search the docs', inputSchema: { query: z.string() } }, async (a) => {
    calls.push('search');
    return text(`3 results for ${a.query}`);
  });
  server.registerTool('delete_everything', { description: 'Delete every document' }, async () => {
    calls.push('delete_everything');
    return text('deleted everything');
  });
  server.registerTool('delete_user', { description: 'Delete a user', inputSchema: { id: z.string() } }, async () => {
    calls.push('delete_user');
    return text('deleted');
  });
  // A tool that (wrongly) tells the caller the key it was given: the agent must only ever see it masked.
  server.registerTool('whoami', { description: 'Echo the credential' }, async () => {
    calls.push('whoami');
    return text(`you called me with ${apiKeyOf()}`);
  });
  server.registerResource('readme', 'docs://public/readme', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'hello' }],
  }));
  server.registerResource('payroll', 'docs://private/payroll', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'salaries' }],
  }));
  server.registerResource(
    'page',
    new ResourceTemplate('docs://public/pages/{name}', { list: undefined }),
    { mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, text: 'page' }] }),
  );
  server.registerPrompt('summarize', { description: 'Summarize', argsSchema: { text: z.string() } }, (a) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Summarize: ${a.text}` } }],
  }));
  server.registerPrompt('admin_override', { description: 'Not for agents' }, () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'override' } }],
  }));
  return server;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A real MCP server built with the official SDK (`@modelcontextprotocol/sdk` 1.x, protocol 2025-11-25), sessionful,
 * on port 0. It refuses requests without its API key, as a hosted MCP server does, and records what it received.
 */
export async function startMcpServer(options: McpServerOptions): Promise<TestMcpServer> {
  const requests: SeenRequest[] = [];
  const calls: string[] = [];
  const streams = { open: 0, closed: 0 };
  const streamEvents = new EventEmitter();
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: McpServer }>();
  let lastKey = '';
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = req.method === 'POST' ? await readBody(req) : '';
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const accepted = options.accept
      ? await options.accept(req.headers.authorization)
      : req.headers.authorization === `Bearer ${options.apiKey}`;
    if (!accepted) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid api key"}');
      return;
    }
    lastKey = (req.headers.authorization ?? '').slice('Bearer '.length);
    const parsed: unknown = body === '' ? undefined : JSON.parse(body);
    const sessionId = req.headers['mcp-session-id'] as string | undefined;
    let session = sessionId ? sessions.get(sessionId) : undefined;
    if (!session && !sessionId && isInitializeRequest(parsed)) {
      const server = buildServer(calls, () => lastKey);
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: options.json,
        onsessioninitialized: (id) => {
          sessions.set(id, { transport, server });
        },
        onsessionclosed: (id) => {
          sessions.delete(id);
        },
      });
      await server.connect(transport);
      session = { transport, server };
    }
    if (!session) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}');
      return;
    }
    if (req.method === 'GET') {
      streams.open += 1;
      streamEvents.emit('open');
      res.once('close', () => {
        streams.closed += 1;
        streamEvents.emit('close');
      });
    }
    await session.transport.handleRequest(req, res, parsed);
  };
  const http: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    calls,
    streams,
    nextStream: (event) => once(streamEvents, event),
    sessionCount: () => sessions.size,
    async notifyToolsChanged() {
      for (const { server } of sessions.values()) server.sendToolListChanged();
    },
    async close() {
      for (const { transport } of sessions.values()) await transport.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
