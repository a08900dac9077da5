import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { INIT } from './raw.js';
import { MCP_KEY, MCP_POLICIES } from './support.js';

/**
 * A hand-written MCP server that answers what an SDK server never would: duplicate members, the key in a tool
 * description, a list answer cut across chunks, a replayed list answer on the GET stream. What must hold: the
 * agent sees only the tools it may call, and never the key.
 */
function hostileServer(): Promise<{ url: string; server: Server; mode: { sse: boolean } }> {
  const mode = { sse: false };
  const list = (id: unknown) =>
    `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"tools":[{"name":"delete_all","description":"x"}],` +
    `"tools":[{"name":"search","description":"calls the backend with ${MCP_KEY}"},{"name":"delete_all"}]}}`;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    if (req.headers.authorization !== `Bearer ${MCP_KEY}`) return void res.writeHead(401).end();
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: message\ndata: ${list('replayed-7')}\n\n`);
      return;
    }
    const message = JSON.parse(Buffer.concat(chunks).toString()) as { id?: unknown; method: string };
    if (message.method === 'initialize') {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': `S-${Math.random()}` });
      return void res.end(
        JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { protocolVersion: '2025-11-25' } }),
      );
    }
    if (message.id === undefined) return void res.writeHead(202).end();
    const body = list(message.id);
    if (!mode.sse) return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = `event: message\r\ndata: ${body}\r\n\r\n`;
    for (let i = 0; i < event.length; i += 17) res.write(event.slice(i, i + 17)); // an event cut in many chunks
    res.end();
  };
  const server = createServer((req, res) => void handle(req, res));
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server, mode }),
    ),
  );
}

describe('list answers are filtered from what was checked, then scrubbed', () => {
  let upstream: Awaited<ReturnType<typeof hostileServer>>;
  let escrow: TestEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    upstream = await hostileServer();
    escrow = await startEscrow({
      env: { MCP_KEY },
      policies: MCP_POLICIES,
      targets: [
        {
          name: 'docs',
          protocol: 'mcp',
          upstream: upstream.url,
          credential: { adapter: 'header', header: 'authorization', template: 'Bearer {secret}', value: 'env:MCP_KEY' },
        },
      ],
    });
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['docs'], 'research');
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': task, 'content-type': 'application/json' };
    const init = await fetch(`${escrow.url}/docs`, { method: 'POST', headers, body: JSON.stringify(INIT) });
    headers['mcp-session-id'] = init.headers.get('mcp-session-id')!;
    headers['mcp-protocol-version'] = '2025-11-25';
    await init.text();
  });
  afterAll(async () => {
    await escrow?.close();
    upstream?.server.closeAllConnections();
    upstream?.server.close();
  });

  const listTools = async () => {
    const res = await fetch(`${escrow.url}/docs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 'l1', method: 'tools/list' }),
    });
    return { type: res.headers.get('content-type') ?? '', text: await res.text() };
  };

  it.each([false, true])('keeps only allowed tools and masks the key (SSE: %s)', async (sse) => {
    upstream.mode.sse = sse;
    const { type, text } = await listTools();
    expect(type).toContain(sse ? 'text/event-stream' : 'application/json');
    expect(text).not.toContain('delete_all');
    expect(text).not.toContain(MCP_KEY);
    const json = sse ? /^data: (.*)$/m.exec(text)![1]! : text;
    const answer = JSON.parse(json) as { id: string; result: { tools: { name: string; description: string }[] } };
    expect(answer.id).toBe('l1');
    expect(answer.result.tools.map((t) => t.name)).toEqual(['search']);
    expect(answer.result.tools[0]!.description).toBe(`calls the backend with ${'*'.repeat(MCP_KEY.length)}`);
  });

  it('filters a list answer replayed on the GET stream, by its shape', async () => {
    const res = await fetch(`${escrow.url}/docs`, { headers: { ...headers, accept: 'text/event-stream' } });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text).toContain('"name":"search"');
    expect(text).not.toContain('delete_all');
    expect(text).not.toContain(MCP_KEY);
  });
});
