import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEscrow } from '../support/escrow.js';
import { TEST_IDENTITY } from '../support/keys.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';

let fx: PgFixture;
let pki: DbPki;

beforeAll(async () => {
  fx = await createPgFixture('modes');
  pki = createDbPki();
});
afterAll(async () => {
  await fx?.drop();
});

describe('an X.509-SVID client authenticates by certificate, without a password', () => {
  let escrow: TestEscrow & { dbPort: number };
  beforeAll(async () => {
    escrow = await startDbEscrow(
      pki,
      { template: fx.readOnly, rolePrefix: fx.rolePrefix },
      { config: { identity: { ...TEST_IDENTITY, mtls: { principal: 'Agent', trustDomain: 'test.example' } } } },
    );
  });
  afterAll(async () => {
    await escrow?.close();
  });

  it('connects with its certificate and no password; the audit event says so', async () => {
    // The task belongs to the certificate's principal (issuer `mtls`), as if opened on the mTLS HTTP listener.
    const principal = {
      type: 'Agent' as const,
      id: 'spiffe://test.example/agent/a',
      issuer: 'mtls',
      authMethod: 'mtls' as const,
      claims: {},
    };
    const allow = { id: 'dec_test', decision: 'allow' as const, policies: [], errors: [] };
    const { task: mtlsTask } = await escrow.gw.tasks.open(principal, { intent: 'mtls', targets: ['db'] }, () => allow);
    const task = mtlsTask.id;
    const client = agentClient(escrow.dbPort, fx, pki, {
      user: task,
      ssl: { ca: pki.ca.cert, cert: pki.agent.cert, key: pki.agent.key },
    });
    await client.connect();
    expect((await client.query('SELECT count(*)::int AS n FROM items')).rows[0]).toEqual({ n: 2 });
    await client.end();
    const opened = (await escrow.auditEvents()).find((e) => e.event === 'connection.opened');
    expect(opened).toMatchObject({ authMethod: 'certificate', principal: { id: 'spiffe://test.example/agent/a' } });
  });

  it('a certificate from another CA is refused at the TLS handshake or with 28000', async () => {
    const other = createDbPki();
    const task = await escrow.openTask(await escrow.token(), ['db']);
    const client = agentClient(escrow.dbPort, fx, pki, {
      user: task,
      ssl: { ca: pki.ca.cert, cert: other.agent.cert, key: other.agent.key },
    });
    const error = (await client.connect().catch((e: unknown) => e)) as { code?: string };
    expect(error.code).toBe('28000');
  });
});

describe('plaintext is for loopback development only', () => {
  it('with allowPlaintext on a loopback listener, a plain connection with the token works', async () => {
    const escrow = await startDbEscrow(pki, {
      template: fx.readOnly,
      rolePrefix: fx.rolePrefix,
      postgres: { tls: undefined, allowPlaintext: true },
    });
    try {
      const token = await escrow.token();
      const client = new pg.Client({
        host: '127.0.0.1',
        port: escrow.dbPort,
        user: await escrow.openTask(token, ['db']),
        password: token,
        database: fx.database,
      });
      await client.connect();
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await client.end();
    } finally {
      await escrow.close();
    }
  });

  it('allowPlaintext on a non-loopback listen address stops start-up, naming the path', async () => {
    const error = await startDbEscrow(pki, {
      template: fx.readOnly,
      rolePrefix: fx.rolePrefix,
      listen: '0.0.0.0:0',
      postgres: { tls: undefined, allowPlaintext: true },
    }).catch((e: unknown) => e as Error);
    expect((error as Error).message).toContain('targets[0].postgres.allowPlaintext: only on a loopback listen address');
  });
});
