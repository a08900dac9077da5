import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

describe('a principal may hold at most tasks.maxOpenPerPrincipal open tasks', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { ECHO_KEY: 'canary-limits-0d9e' },
      config: { tasks: { maxOpenPerPrincipal: 3 } },
      targets: [echoTarget(upstream.url, 'env:ECHO_KEY', { ttl: 60 })],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const open = (token: string) =>
    fetch(`${escrow.url}/_escrow/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'limited', targets: ['echo'] }),
    });

  it('answers 429 to one task too many, counts only its own tasks, and frees a slot on close', async () => {
    const token = await escrow.token({ sub: 'spiffe://test.example/agent/limited' });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await escrow.openTask(token, ['echo']));
    const refused = await open(token);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ code: 'task_limit' });
    expect((await open(await escrow.token({ sub: 'spiffe://test.example/agent/other' }))).status).toBe(201);
    const closed = await fetch(`${escrow.url}/_escrow/tasks/${ids[0]}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(closed.status).toBe(204);
    expect((await open(token)).status).toBe(201);
  });
});
