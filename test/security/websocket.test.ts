import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWebSocket, startWsUpstream, type WsUpstream } from '../support/websocket.js';
import { headerTarget, type LoggedEscrow, PERMISSIVE_POLICY, startLoggedEscrow } from './support/escrow.js';
import { canaryForms, findLeak } from './support/leak.js';

const CANARY = 'canary-ws/9b3e+7c1d=05af';
const MASK = '*'.repeat(CANARY.length);
/** Everything on dev targets; on others only opening a task, so `connect` on a prod target is denied by policy. */
const POLICY = `${PERMISSIVE_POLICY}
@id("open-any-task")
permit (principal is Escrow::Agent, action == Escrow::Action::"openTask", resource is Escrow::Target);
`;

describe('WebSocket upgrades: authorized as connect, credential on the upgrade only, frames scrubbed', () => {
  let upstream: WsUpstream;
  let escrow: LoggedEscrow;
  let token: string;
  let headers: Record<string, string>;

  beforeAll(async () => {
    upstream = await startWsUpstream();
    escrow = await startLoggedEscrow({
      env: { KEY: CANARY },
      policy: POLICY,
      targets: [
        headerTarget('ws', upstream.url, { websocket: true }),
        headerTarget('ws-prod', upstream.url, { websocket: true, attributes: { environment: 'prod' } }),
        headerTarget('down', 'http://127.0.0.1:1', { websocket: true }),
      ],
    });
    token = await escrow.token();
    headers = {
      authorization: `Bearer ${token}`,
      'x-escrow-task': await escrow.openTask(token, ['ws', 'ws-prod', 'down']),
    };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('upgrades, injects the key upstream, strips the token and extensions, and echoes both ways', async () => {
    const before = upstream.upgrades.length;
    const ws = await openWebSocket(escrow.port, '/ws/chat?room=1', headers, { offerDeflate: true });
    expect(ws.status).toBe(101);
    expect(ws.headers['x-echo-key']).toBe(MASK);
    expect(ws.headers['sec-websocket-extensions']).toBeUndefined();
    const seen = upstream.upgrades[before]!;
    expect(seen.url).toBe('/chat?room=1');
    expect(seen.headers['x-api-key']).toBe(CANARY);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers['x-escrow-task']).toBeUndefined();
    expect(seen.headers['sec-websocket-extensions']).toBeUndefined();
    ws.send('hello');
    expect(await ws.waitMessages(1)).toEqual(['echo:hello']);
    ws.close();
    expect(await ws.closed).toEqual({ code: 1000, reason: MASK });
  });

  it('masks a key the upstream sends split over two fragments with a ping between them', async () => {
    const ws = await openWebSocket(escrow.port, '/ws/leak', headers);
    expect(ws.status).toBe(101);
    expect(await ws.waitMessages(1)).toEqual([`key=${MASK};`]);
    expect(ws.pings.map(String)).toEqual(['ping']);
    expect(findLeak(ws.received(), canaryForms(CANARY))).toBeUndefined();
    ws.close();
  });

  it('refuses with 403 when policy does not permit connect, and never opens the upstream', async () => {
    const before = upstream.upgrades.length;
    const ws = await openWebSocket(escrow.port, '/ws-prod/chat', headers);
    expect(ws.status).toBe(403);
    expect(upstream.upgrades.length).toBe(before);
    await ws.closed;
    expect(ws.body()).not.toContain(token);
  });

  it('refuses with 401 without a workload token', async () => {
    const ws = await openWebSocket(escrow.port, '/ws/chat', { 'x-escrow-task': headers['x-escrow-task']! });
    expect(ws.status).toBe(401);
  });

  it('relays an upstream refusal scrubbed, without its cookie', async () => {
    const ws = await openWebSocket(escrow.port, '/ws/refuse', headers);
    expect(ws.status).toBe(401);
    await ws.closed;
    expect(ws.headers['set-cookie']).toBeUndefined();
    expect(ws.body()).toBe(`bad key ${MASK}`);
  });

  it('closes with 502 when the upstream negotiates an extension Escrow cannot scrub', async () => {
    const ws = await openWebSocket(escrow.port, '/ws/deflate', headers);
    expect(ws.status).toBe(502);
  });

  it('answers 502 for a refused upstream and keeps serving (http-proxy-style crash avoided)', async () => {
    const ws = await openWebSocket(escrow.port, '/down/x', headers);
    expect(ws.status).toBe(502);
    const again = await openWebSocket(escrow.port, '/ws/chat', headers);
    expect(again.status).toBe(101);
    again.close();
  });

  it('audits the upgrade as a request with its decision and lease, never the key or token', async () => {
    const audit = await escrow.audit();
    const events = audit
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const upgrades = events.filter((e) => e.event === 'request' && e.upgrade === 'websocket');
    expect(upgrades.some((e) => e.status === 101 && e.decision === 'allow' && typeof e.leaseId === 'string')).toBe(
      true,
    );
    expect(upgrades.some((e) => e.status === 403 && e.decision === 'deny')).toBe(true);
    expect(findLeak(audit, canaryForms(CANARY, [token]))).toBeUndefined();
  });
});
