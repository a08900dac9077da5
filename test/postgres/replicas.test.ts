import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../support/keys.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, type DbPki } from '../support/postgres-escrow.js';
import { closeDbTask, type DbReplicas, openDbTask, startDbReplicas } from './support/replicas.js';

describe('two Escrow processes share the revocation of database sessions', () => {
  let fx: PgFixture;
  let pki: DbPki;
  let cluster: DbReplicas;

  beforeAll(async () => {
    fx = await createPgFixture('replicas');
    pki = createDbPki();
    cluster = await startDbReplicas(2, pki, () => ({ template: fx.readOnly, rolePrefix: fx.rolePrefix }));
  }, 60_000);

  afterAll(async () => {
    const codes = await cluster?.stop();
    await fx?.drop();
    expect(codes).toEqual([0, 0]); // both drained and exited cleanly on SIGTERM
  });

  it('a task closed on replica A cuts its sessions on A and on B, and the role is dropped', async () => {
    const [a, b] = cluster.replicas;
    const token = await signToken(cluster.keys);
    const task = await openDbTask(a!.process, token);
    const clients: pg.Client[] = [];
    const cuts: Promise<{ code?: string }>[] = [];
    for (const { dbPort } of cluster.replicas) {
      const client = agentClient(dbPort, fx, pki, { user: task, password: token });
      cuts.push(new Promise((resolve) => client.on('error', (e: Error & { code?: string }) => resolve(e))));
      await client.connect();
      clients.push(client);
    }
    const roles = await Promise.all(clients.map(async (c) => (await c.query('SELECT current_user AS r')).rows[0].r));
    expect(roles[0]).toBe(roles[1]); // one role per (task, target), whichever replica issued it
    expect(await closeDbTask(a!.process, token, task)).toBe(204);
    const errors = await Promise.all(cuts);
    expect(errors.map((e) => e.code)).toEqual(['57P01', '57P01']);
    await expect.poll(() => fx.leaseRoles(), { timeout: 10_000 }).toEqual([]);
    for (const client of clients) await client.end().catch(() => {});
    expect(b!.process.output()).not.toContain(token);
  });

  it('a task closed through replica A is refused at replica B’s listener (28000)', async () => {
    const [a, b] = cluster.replicas;
    const token = await signToken(cluster.keys);
    const task = await openDbTask(b!.process, token);
    expect(await closeDbTask(a!.process, token, task)).toBe(204);
    const client = agentClient(b!.dbPort, fx, pki, { user: task, password: token });
    const error = (await client.connect().catch((e: unknown) => e)) as { code?: string };
    expect(error.code).toBe('28000');
  });
});
