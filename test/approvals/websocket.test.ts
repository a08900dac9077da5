import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWebSocket, startWsUpstream, type WsUpstream } from '../support/websocket.js';
import { type ApprovalEscrow, call, humanToken, startApprovalEscrow } from './support.js';

const KEY = 'canary-ws-approval-7e21';
const POLICIES = `
@id("agents-open") permit (principal is Escrow::Agent, action == Escrow::Action::"openTask", resource);
@id("agents-connect") permit (principal is Escrow::Agent, action == Escrow::Action::"connect", resource) when { context has task };
@id("streams-need-approval")
@approval("required")
@approvalUses("2")
forbid (principal is Escrow::Agent, action == Escrow::Action::"connect", resource);
@id("people-approve") permit (principal is Escrow::Human, action == Escrow::Action::"approve", resource);
`;

describe('a WebSocket upgrade that policy marks waits for a person like any request', () => {
  let upstream: WsUpstream;
  let escrow: ApprovalEscrow;
  let port: number;
  beforeAll(async () => {
    upstream = await startWsUpstream();
    escrow = await startApprovalEscrow({
      store: 'memory',
      env: { KEY },
      policies: { 'p.cedar': POLICIES },
      targets: [
        {
          name: 'stream',
          upstream: upstream.url,
          websocket: true,
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
        },
      ],
    });
    port = (escrow.listeners.proxy.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('answers the upgrade 403 approval_required without opening the upstream, then connects twice once approved', async () => {
    const agent = await escrow.token();
    const task = await escrow.openTask(agent, ['stream'], 'watch builds');
    const headers = { authorization: `Bearer ${agent}`, 'x-escrow-task': task };
    const waiting = await openWebSocket(port, '/stream/logs', headers);
    expect(waiting.status).toBe(403);
    const problem = JSON.parse(waiting.body()) as { code: string; approvalId: string };
    expect(problem.code).toBe('approval_required');
    expect(upstream.upgrades).toHaveLength(0);
    const person = await humanToken(escrow.humanKeys, 'alice@example.org');
    const decided = await call(`${escrow.url}/_escrow/approvals/${problem.approvalId}`, person, {
      body: { decision: 'approve' },
    });
    expect(decided.status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const ws = await openWebSocket(port, '/stream/logs', headers);
      expect(ws.status).toBe(101);
      ws.send('hi');
      expect(await ws.waitMessages(1)).toEqual(['echo:hi']);
      ws.close();
    }
    expect(upstream.upgrades).toHaveLength(2);
    expect(upstream.upgrades[0]!.headers['x-api-key']).toBe(KEY);
    const third = await openWebSocket(port, '/stream/logs', headers);
    expect(third.status).toBe(403); // @approvalUses("2"): the third asks again
    const requested = (await escrow.auditEvents()).filter((e) => e.event === 'approval.requested');
    expect(requested.map((e) => [e.action, e.uses])).toEqual([
      ['connect', 2],
      ['connect', 2],
    ]);
  });
});
