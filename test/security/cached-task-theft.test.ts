import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../identity/support.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

const CANARY = 'canary-sk-theft-0e4d7c2a9b1f';

/**
 * A task, its lease and its owner's identity are served from caches without a promise once warm (the admission fast
 * path). Attacked as an agent that learned another agent's task id would: the cache hit must refuse exactly what the
 * store path refuses, and never reach the upstream.
 */
describe('a warm task is no easier to borrow than a cold one', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { ECHO_KEY: CANARY },
      targets: [
        echoTarget(upstream.url, 'env:ECHO_KEY'),
        {
          name: 'other',
          upstream: upstream.url,
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:ECHO_KEY', ttl: 300 },
        },
      ],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const call = (token: string, task: string, path = '/echo/x') =>
    fetch(`${escrow.url}${path}`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task } });

  it('refuses another principal, and a target the task does not list, after the owner warmed every cache', async () => {
    const owner = await escrow.token({ sub: 'spiffe://test.example/agent/owner' });
    const thief = await escrow.token({ sub: 'spiffe://test.example/agent/thief' });
    const task = await escrow.openTask(owner, ['echo']);
    for (let i = 0; i < 2; i++) expect((await call(owner, task)).status).toBe(200); // task, lease, identity cached
    expect(
      escrow.gw.tasks.cachedForRequest(task, (await escrow.gw.identity.verify(bearer(owner)))!, 'echo'),
    ).toBeDefined();
    const before = upstream.requests.length;

    const stolen = await call(thief, task);
    expect(stolen.status).toBe(403);
    expect(((await stolen.json()) as { code: string }).code).toBe('task_forbidden');
    const elsewhere = await call(owner, task, '/other/x');
    expect(elsewhere.status).toBe(403);
    expect(((await elsewhere.json()) as { code: string }).code).toBe('task_forbidden');
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses the warm task at once after its close, and the owner too', async () => {
    const owner = await escrow.token({ sub: 'spiffe://test.example/agent/closer' });
    const task = await escrow.openTask(owner, ['echo']);
    for (let i = 0; i < 2; i++) expect((await call(owner, task)).status).toBe(200);
    const closed = await fetch(`${escrow.url}/_escrow/tasks/${task}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${owner}` },
    });
    expect(closed.status).toBe(204);
    const before = upstream.requests.length;
    const after = await call(owner, task);
    expect(after.status).toBe(403);
    expect(((await after.json()) as { code: string }).code).toBe('task_closed');
    expect(upstream.requests.length).toBe(before);
  });
});
