import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { type ClusterSetup, type SentinelSetup, startClusterSetup, startSentinelSetup } from './support/topologies.js';

describe.each([
  ['a Redis Cluster', startClusterSetup],
  ['a Sentinel-managed primary', startSentinelSetup],
] as const)('Escrow over %s: tasks, leases, revocation and readiness work as over one server', (_, start) => {
  let setup: ClusterSetup | SentinelSetup;
  let upstream: TestUpstream;
  let escrow: EscrowProcess;

  beforeAll(async () => {
    setup = await start();
    upstream = await startUpstream();
    escrow = await startEscrowProcess({
      store: setup.url,
      env: { ECHO_KEY: 'canary-topology-4e1b' },
      targets: [echoTarget(upstream.url, 'env:ECHO_KEY')],
    });
  }, 40_000);
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    await setup?.close();
  });

  it('opens tasks whose keys land on different nodes, serves them, and refuses them once closed', async () => {
    const token = await escrow.token();
    const auth = { authorization: `Bearer ${token}` };
    const tasks: string[] = [];
    for (let i = 0; i < 10; i++) tasks.push(await escrow.openTask(token, ['echo']));
    for (const task of tasks) {
      expect((await fetch(`${escrow.url}/echo/x`, { headers: { ...auth, 'x-escrow-task': task } })).status).toBe(200);
    }
    for (const task of tasks) {
      expect((await fetch(`${escrow.url}/_escrow/tasks/${task}`, { method: 'DELETE', headers: auth })).status).toBe(
        204,
      );
    }
    expect((await fetch(`${escrow.url}/echo/x`, { headers: { ...auth, 'x-escrow-task': tasks[0]! } })).status).toBe(
      403,
    );
    const readyz = (await (await fetch(`${escrow.adminUrl}/readyz`)).json()) as { checks: Record<string, string> };
    expect(readyz.checks).toMatchObject({ store: 'ok', revocations: 'ok' });
  });
});
