import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawAgent, rawAgent } from './raw.js';
import { type McpWorld, startMcpWorld } from './support.js';

const call = (id: number | string, name: string, args: object = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

describe('malformed or refused JSON-RPC is answered by Escrow and never reaches the MCP server', () => {
  let world: McpWorld;
  let agent: RawAgent;
  let token: string;
  let task: string;

  beforeAll(async () => {
    world = await startMcpWorld({ json: true, mcp: { maxBodyBytes: 4096, maxDepth: 8, maxBatch: 3 } });
    token = await world.escrow.token();
    task = await world.escrow.openTask(token, ['docs'], 'probe');
    agent = await rawAgent(world.escrow, token, task);
  });
  afterAll(async () => {
    await world?.close();
  });

  /** Send, and check the server saw nothing of it. */
  async function refused(body: string | object, headers: Record<string, string> = {}) {
    const before = world.server.requests.length;
    const answer = await agent.json(body, headers);
    expect(world.server.requests.length).toBe(before);
    return answer as { status: number; body: { id: unknown; error: { code: number; data: Record<string, unknown> } } };
  }

  it('answers a body that is not JSON with a parse error (-32700)', async () => {
    const { status, body } = await refused('{"jsonrpc":"2.0","id":1,"method":');
    expect(status).toBe(400);
    expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700, data: { reason: 'parse_error' } } });
  });

  it('answers a message that is not JSON-RPC with an invalid-request error (-32600), keeping its id', async () => {
    const { status, body } = await refused({ jsonrpc: '1.0', id: 7, method: 'tools/list' });
    expect(status).toBe(400);
    expect(body).toMatchObject({ id: 7, error: { code: -32600, data: { reason: 'invalid_request' } } });
  });

  it('refuses a member named twice, so no reader can run another tool than the one authorized', async () => {
    const text = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","name":"delete_everything"}}';
    const { status, body } = await refused(text);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: -32600, data: { reason: 'duplicate_member' } });
    const escaped =
      '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","n\\u0061me":"delete_user"}}';
    expect((await refused(escaped)).body.error.data.reason).toBe('duplicate_member');
  });

  it('refuses arguments nested deeper than mcp.maxDepth', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 10; i++) deep = { a: deep };
    const { status, body } = await refused(call(3, 'search', { query: 'q', deep }));
    expect(status).toBe(400);
    expect(body.error.data.reason).toBe('too_deep');
  });

  it('refuses a body over mcp.maxBodyBytes with 413 before reading it all', async () => {
    const res = await agent.post(call(4, 'search', { query: 'x'.repeat(5000) }));
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('answers an unknown method with -32601: what Escrow cannot authorize is not forwarded', async () => {
    const { status, body } = await refused({ jsonrpc: '2.0', id: 5, method: 'tools/execute_all', params: {} });
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 5, error: { code: -32601, data: { reason: 'unknown_method' } } });
  });

  it('answers a tools/call without a tool name with -32602', async () => {
    const { body } = await refused({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { arguments: {} } });
    expect(body.error).toMatchObject({ code: -32602, data: { reason: 'invalid_params' } });
  });

  it('refuses a batch under a revision that has none (2025-06-18 and later)', async () => {
    const { status, body } = await refused([call(8, 'search', { query: 'a' })]);
    expect(status).toBe(400);
    expect(body.error.data.reason).toBe('batch_not_allowed');
  });

  it('answers a 2025-03-26 batch with one denied call with an error for every request: all or nothing', async () => {
    const batch = [call(9, 'search', { query: 'a' }), call(10, 'delete_user', { id: 'u1' })];
    const answer = await refused(batch, { 'mcp-protocol-version': '2025-03-26' });
    expect(answer.status).toBe(200);
    const [first, second] = answer.body as unknown as { id: number; error: { code: number; data: object } }[];
    expect(first).toMatchObject({ id: 9, error: { code: -32011, data: { reason: 'batch_not_sent' } } });
    expect(second).toMatchObject({ id: 10, error: { code: -32010, data: { reason: 'policy_denied' } } });
    expect((second!.error.data as { decisionId: string }).decisionId).toMatch(/^dec_/);
  });

  it('refuses a batch larger than mcp.maxBatch', async () => {
    const batch = [1, 2, 3, 4].map((i) => call(20 + i, 'search', { query: 'a' }));
    const { body } = await refused(batch, { 'mcp-protocol-version': '2025-03-26' });
    expect(body.error.data.reason).toBe('batch_too_large');
  });

  it('refuses a protocol revision it does not know with -32022 and the revisions it supports', async () => {
    const { status, body } = await refused(
      { jsonrpc: '2.0', id: 11, method: 'ping' },
      { 'mcp-protocol-version': '2024-01-01' },
    );
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: -32022, data: { requested: '2024-01-01' } });
    expect(body.error.data.supported).toContain('2025-11-25');
  });

  it('refuses an Mcp-Name header that says another tool than the body (-32020)', async () => {
    const headers = { 'mcp-method': 'tools/call', 'mcp-name': 'search' };
    const { status, body } = await refused(call(12, 'delete_user', { id: 'u' }), headers);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: -32020, data: { reason: 'header_mismatch' } });
  });

  it('refuses a body that is not application/json', async () => {
    const { status } = await refused(JSON.stringify(call(13, 'search')), { 'content-type': 'text/plain' });
    expect(status).toBe(415);
  });

  it('answers a denied notification with 403 and an error without id', async () => {
    const note = { jsonrpc: '2.0', method: 'tools/call', params: { name: 'delete_everything' } };
    const { status, body } = await refused(note);
    expect(status).toBe(403);
    expect(body).toMatchObject({ id: null, error: { code: -32010 } });
  });

  it('serves only the endpoint: another path, a query or another method is refused', async () => {
    const headers = { authorization: `Bearer ${token}`, 'x-escrow-task': task };
    expect((await fetch(`${world.escrow.url}/docs/admin`, { headers })).status).toBe(404);
    expect((await fetch(`${world.escrow.url}/docs?debug=1`, { headers })).status).toBe(400);
    expect((await fetch(`${world.escrow.url}/docs`, { method: 'PUT', headers, body: '{}' })).status).toBe(405);
    expect(world.server.requests.every((r) => r.url === '/mcp')).toBe(true);
  });

  it('still forwards a well-formed batch of allowed calls (2025-03-26), list answers filtered', async () => {
    const batch = [call(30, 'search', { query: 'a' }), { jsonrpc: '2.0', id: 31, method: 'tools/list', params: {} }];
    const answer = await agent.json(batch, { 'mcp-protocol-version': '2025-03-26' });
    expect(answer.status).toBe(200);
    const byId = new Map(
      (answer.body as { id: number; result: { tools?: { name: string }[] } }[]).map((m) => [m.id, m]),
    );
    expect(byId.get(30)).toMatchObject({ result: { content: [{ text: '3 results for a' }] } });
    expect(
      byId
        .get(31)!
        .result.tools!.map((t) => t.name)
        .sort(),
    ).toEqual(['search', 'whoami']);
  });
});
