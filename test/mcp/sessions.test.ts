import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAgent, type McpWorld, startMcpWorld } from './support.js';

const OTHER = 'spiffe://test.example/agent/intruder';

describe.each([
  { mode: 'JSON answers', json: true },
  { mode: 'SSE answers', json: false },
])('an Mcp-Session-Id is bound to the principal and task that created it ($mode)', ({ json }) => {
  let world: McpWorld;

  beforeAll(async () => {
    world = await startMcpWorld({ json });
  });
  afterAll(async () => {
    await world?.close();
  });

  async function session() {
    const token = await world.escrow.token();
    const task = await world.escrow.openTask(token, ['docs'], 'research');
    const agent = await connectAgent(world.escrow, token, task);
    return { token, task, agent, id: agent.transport.sessionId! };
  }

  it('refuses the session to another principal, as an unknown session, and never forwards the request', async () => {
    const owner = await session();
    const token = await world.escrow.token({ sub: OTHER });
    const task = await world.escrow.openTask(token, ['docs'], 'steal a session');
    const before = world.server.requests.length;
    const intruder = await connectAgent(world.escrow, token, task, { sessionId: owner.id });
    const error = await intruder.client.callTool({ name: 'search', arguments: { query: 'x' } }).catch((e) => e);
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(404);
    expect((error as Error).message).toContain('Session not found');
    expect(world.server.requests.length).toBe(before);
    const refused = (await world.escrow.auditEvents()).filter((e) => e.reason === 'mcp_session_foreign');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ event: 'request', decision: 'deny', status: 404, principal: { id: OTHER } });
    // The owner's session is untouched.
    await expect(owner.agent.client.callTool({ name: 'search', arguments: { query: 'y' } })).resolves.toBeDefined();
  });

  it('refuses the session to the same principal under another task', async () => {
    const owner = await session();
    const other = await world.escrow.openTask(owner.token, ['docs'], 'another task');
    const reuse = await connectAgent(world.escrow, owner.token, other, { sessionId: owner.id });
    await expect(reuse.client.listTools()).rejects.toMatchObject({ code: 404 });
  });

  it('refuses a session id Escrow never saw being created', async () => {
    const owner = await session();
    const forged = await connectAgent(world.escrow, owner.token, owner.task, { sessionId: 'not-a-session' });
    await expect(forged.client.listTools()).rejects.toMatchObject({ code: 404 });
    const events = await world.escrow.auditEvents();
    expect(events.some((e) => e.reason === 'mcp_session_unknown')).toBe(true);
  });

  it('ends the session when its task is closed: the GET stream is cut and the id is refused afterwards', async () => {
    const opened = world.server.nextStream('open');
    const owner = await session();
    await opened;
    expect(world.escrow.gw.connections.countFor(owner.task)).toBe(1);
    const closed = world.server.nextStream('close');
    const res = await fetch(`${world.escrow.url}/_escrow/tasks/${owner.task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(res.status).toBe(204);
    await closed; // the upstream saw its GET stream end
    expect(world.escrow.gw.connections.countFor(owner.task)).toBe(0);
    await expect(owner.agent.client.listTools()).rejects.toMatchObject({ code: 403 });
    const next = await world.escrow.openTask(owner.token, ['docs'], 'after the close');
    const reuse = await connectAgent(world.escrow, owner.token, next, { sessionId: owner.id });
    await expect(reuse.client.listTools()).rejects.toMatchObject({ code: 404 });
  });

  it('refuses a request whose task is closed while it is being admitted, and tracks no stream for it', async () => {
    const owner = await session();
    const tasks = world.escrow.gw.tasks as {
      forRequest: typeof world.escrow.gw.tasks.forRequest;
      cachedForRequest: typeof world.escrow.gw.tasks.cachedForRequest;
    };
    const original = tasks.forRequest;
    const cached = tasks.cachedForRequest;
    tasks.cachedForRequest = () => undefined; // the store's answer, with an await the close can land in
    tasks.forRequest = async (...args) => {
      const task = await original.apply(world.escrow.gw.tasks, args);
      await world.escrow.gw.revoker.revokeTask(task.id, 'task_closed'); // the close lands right after stage 3
      return task;
    };
    try {
      await expect(owner.agent.client.listTools()).rejects.toMatchObject({ code: 403 });
    } finally {
      tasks.forRequest = original;
      tasks.cachedForRequest = cached;
    }
    expect(world.escrow.gw.connections.countFor(owner.task)).toBe(0);
  });

  it('forgets the session when the agent ends it (DELETE), and the server ends it too', async () => {
    const owner = await session();
    const before = world.server.sessionCount();
    await owner.agent.transport.terminateSession();
    expect(world.server.sessionCount()).toBe(before - 1);
    const reuse = await connectAgent(world.escrow, owner.token, owner.task, { sessionId: owner.id });
    await expect(reuse.client.listTools()).rejects.toMatchObject({ code: 404 });
  });
});
