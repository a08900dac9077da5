import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EscrowError } from '../../gateway/errors.js';
import type { SessionStore } from '../../gateway/mcp/sessions.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { INIT } from './raw.js';
import { MCP_KEY, MCP_POLICIES } from './support.js';

/** An upstream that answers every initialize with the same session id (as a broken or hostile server might). */
function fixedSessionServer(): Promise<{
  url: string;
  server: Server;
  answered: () => Promise<void>;
  session: { id: string };
}> {
  let onAnswer: () => void = () => {};
  const session = { id: 'S-fixed' };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': session.id });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-11-25' } }), () => onAnswer());
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
        server,
        answered: () => new Promise<void>((done) => (onAnswer = done)),
        session,
      }),
    ),
  );
}

describe('a new session is bound before the agent learns its id', () => {
  let upstream: Awaited<ReturnType<typeof fixedSessionServer>>;
  let escrow: TestEscrow;
  let sessions: { bind: SessionStore['bind'] };
  let original: SessionStore['bind'];

  beforeAll(async () => {
    upstream = await fixedSessionServer();
    escrow = await startEscrow({
      env: { MCP_KEY },
      policies: MCP_POLICIES,
      targets: [
        {
          name: 'docs',
          protocol: 'mcp',
          upstream: upstream.url,
          scrub: { flushAfterMs: 0 }, // nothing held back by the scrubber: only the binding can hold the answer
          credential: { adapter: 'header', header: 'authorization', template: 'Bearer {secret}', value: 'env:MCP_KEY' },
        },
      ],
    });
    sessions = escrow.gw.mcp.sessions as { bind: SessionStore['bind'] };
    original = sessions.bind;
  });
  afterEach(() => {
    sessions.bind = original;
  });
  afterAll(async () => {
    await escrow?.close();
    upstream?.server.close();
  });

  const initialize = async (sub?: string) => {
    const token = await escrow.token(sub ? { sub } : {});
    const task = await escrow.openTask(token, ['docs'], 'research');
    return fetch(`${escrow.url}/docs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task, 'content-type': 'application/json' },
      body: JSON.stringify(INIT),
    });
  };

  it('holds the initialize answer until the binding is stored (another replica may get the next request)', async () => {
    let release: () => void = () => {};
    const stored = new Promise<void>((resolve) => (release = resolve));
    let bindCalled: () => void = () => {};
    const called = new Promise<void>((resolve) => (bindCalled = resolve));
    sessions.bind = async (...args) => {
      bindCalled();
      await stored;
      return original(...args);
    };
    const answered = upstream.answered();
    let settled = false;
    const pending = initialize().then((res) => {
      settled = true;
      return res;
    });
    await Promise.all([called, answered]);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    release();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBe('S-fixed');
  });

  it('fails the initialize, without a session id, when the binding cannot be stored', async () => {
    sessions.bind = async () => {
      throw new EscrowError('store_unavailable', 'the session store is unavailable');
    };
    const res = await initialize();
    expect(res.status).toBe(503);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    expect(await res.text()).not.toContain('S-fixed');
    expect(await escrow.gw.mcp.sessions.lookup('docs', 'S-fixed')).not.toBeNull(); // (bound by the first test)
  });

  it('refuses a session id the server hands out again to another principal', async () => {
    upstream.session.id = 'S-twice';
    const first = await initialize('spiffe://test.example/agent/one');
    expect(first.status).toBe(200);
    const second = await initialize('spiffe://test.example/agent/two');
    expect(second.status).toBe(502);
    expect(second.headers.get('mcp-session-id')).toBeNull();
    expect(await second.json()).toMatchObject({ reason: 'mcp_session_conflict' });
  });
});
