import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEscrow } from '../support/escrow.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';

describe('an agent connects to PostgreSQL through Escrow with its workload token and runs queries as its minted role', () => {
  let fx: PgFixture;
  let pki: DbPki;
  let escrow: TestEscrow & { dbPort: number };

  beforeAll(async () => {
    fx = await createPgFixture('connect');
    pki = createDbPki();
    escrow = await startDbEscrow(pki, { template: fx.readOnly, rolePrefix: fx.rolePrefix });
  });
  afterAll(async () => {
    await escrow?.close();
    await fx?.drop();
  });

  it('connects with user = task id and password = token, over TLS, and queries as the lease role', async () => {
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['db']);
    const client = agentClient(escrow.dbPort, fx, pki, { user: task, password: token });
    await client.connect();
    const who = await client.query('SELECT current_user AS role, session_user AS login');
    const [role] = await fx.leaseRoles();
    expect(who.rows[0]).toEqual({ role, login: role });
    expect((await client.query('SELECT name FROM items ORDER BY id')).rows).toEqual([{ name: 'one' }, { name: 'two' }]);
    await client.end();
  });
});
