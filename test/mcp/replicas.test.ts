import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { createIssuerKeys } from '../support/keys.js';
import { startMcpServer, type TestMcpServer } from '../support/mcp-server.js';
import { deletePrefix, dumpPrefix, testPrefix } from '../support/redis.js';
import { rawAgent } from './raw.js';
import { connectAgent, MCP_KEY, MCP_POLICIES } from './support.js';

describe('two replicas over one Redis share MCP session bindings and cut each other’s streams', () => {
  let server: TestMcpServer;
  let a: TestEscrow;
  let b: TestEscrow;
  const prefix = testPrefix('mcp-replicas');

  beforeAll(async () => {
    server = await startMcpServer({ apiKey: MCP_KEY, json: true });
    const keys = await createIssuerKeys();
    const target = {
      name: 'docs',
      protocol: 'mcp',
      upstream: server.url,
      credential: { adapter: 'header', header: 'authorization', template: 'Bearer {secret}', value: 'env:MCP_KEY' },
    };
    const common = { env: { MCP_KEY }, policies: MCP_POLICIES, targets: [target], prefix, keys };
    a = await startEscrow(common);
    b = await startEscrow({ ...common, secrets: a.secrets });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.close();
    await deletePrefix(prefix);
  });

  it('lets the owner use its session on the other replica, and refuses another principal there', async () => {
    const token = await a.token();
    const task = await a.openTask(token, ['docs'], 'research');
    const owner = await connectAgent(a, token, task);
    const sessionId = owner.transport.sessionId!;
    const elsewhere = await connectAgent(b, token, task, { sessionId });
    const result = await elsewhere.client.callTool({ name: 'search', arguments: { query: 'b' } });
    expect(result.content).toEqual([{ type: 'text', text: '3 results for b' }]);
    const intruderToken = await b.token({ sub: 'spiffe://test.example/agent/other' });
    const intruderTask = await b.openTask(intruderToken, ['docs'], 'steal');
    const intruder = await connectAgent(b, intruderToken, intruderTask, { sessionId });
    await expect(intruder.client.listTools()).rejects.toMatchObject({ code: 404 });
    // Redis holds a hash of the session id, never the id (a capability for the upstream's session).
    const dump = await dumpPrefix(prefix);
    expect(dump).toContain(`${prefix}mcp:session:docs:`);
    expect(dump).not.toContain(sessionId);
  });

  it('cuts a GET stream served by one replica when the task is closed on the other', async () => {
    const token = await a.token();
    const task = await a.openTask(token, ['docs'], 'listen');
    const agent = await rawAgent(a, token, task);
    const opened = server.nextStream('open');
    const stream = await fetch(`${b.url}/docs`, {
      headers: {
        authorization: `Bearer ${token}`,
        'x-escrow-task': task,
        'mcp-session-id': agent.sessionId,
        'mcp-protocol-version': '2025-11-25',
        accept: 'text/event-stream',
      },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    await opened;
    const reader = stream.body!.getReader();
    const ended = reader.read().then(
      (chunk) => (chunk.done ? 'ended' : 'data'),
      () => 'cut',
    );
    const closedUpstream = server.nextStream('close');
    const res = await fetch(`${a.url}/_escrow/tasks/${task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(204);
    expect(await ended).toBe('cut');
    await closedUpstream;
    expect(b.gw.connections.countFor(task)).toBe(0);
  });
});
