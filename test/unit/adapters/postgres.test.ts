import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseRoleName, sweepExpiredRoles } from '../../../adapters/postgres.js';
import { createAdapter } from '../../../adapters/registry.js';
import type { Adapter, AdapterContext } from '../../../adapters/types.js';
import { EscrowError } from '../../../gateway/errors.js';
import { createPgFixture, PG_SUPERUSER, PG_URL, type PgFixture, superuser } from '../../support/postgres.js';

const CANARY = 'canary-admin-password-7f3a';

function context(now = Date.now): AdapterContext {
  return {
    resolveSecret: (ref) => {
      if (ref === 'env:PG_ADMIN') return CANARY;
      throw new EscrowError('config_invalid', `environment variable ${ref.slice(4)} is not set`);
    },
    path: 'targets[0].credential',
    baseDir: '.',
    now,
    upstream: PG_URL,
  };
}

function scope(fx: PgFixture, leaseId: string, taskId = `tsk_${fx.suffix}aaaaaaaaaaaaaa`) {
  return { leaseId, taskId, target: 'db', principalId: 'spiffe://test.example/a', intent: 'x', ttlSeconds: 300 };
}

describe('the postgres adapter creates one role per task and target, and drops it on revoke', () => {
  let fx: PgFixture;
  let adapter: Adapter;
  const options = () => ({
    adapter: 'postgres',
    ttl: 600,
    template: fx.readOnly,
    adminUsername: PG_SUPERUSER,
    rolePrefix: fx.rolePrefix,
  });

  beforeAll(async () => {
    fx = await createPgFixture('adapter');
    adapter = await createAdapter(options(), context());
  });
  afterAll(async () => {
    await adapter?.close?.();
    await fx?.drop();
  });

  it('issues a login role in the template, with a SCRAM verifier and VALID UNTIL, never the password', async () => {
    const credential = await adapter.issue(scope(fx, 'lse_one'));
    const role = credential.fields.username!;
    expect(role).toBe(leaseRoleName(fx.rolePrefix, scope(fx, 'x').taskId, 'db'));
    expect(credential.wireForms).toEqual([credential.fields.password]);
    const row = (
      await fx.sql(
        `SELECT a.rolcanlogin, a.rolsuper, a.rolpassword, a.rolvaliduntil, a.rolconnlimit,
                pg_has_role(a.oid, $2::regrole, 'MEMBER') AS member, shobj_description(a.oid, 'pg_authid') AS note
           FROM pg_authid a WHERE a.rolname = $1`,
        [role, fx.readOnly],
      )
    ).rows[0]!;
    expect(row).toMatchObject({ rolcanlogin: true, rolsuper: false, member: true, rolconnlimit: 20 });
    expect(row.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(row.rolpassword).not.toContain(credential.fields.password);
    expect(row.note).toContain('escrow lease=lse_one ');
    const validFor = (row.rolvaliduntil as Date).getTime() - Date.now();
    expect(validFor).toBeGreaterThan(290_000);
    expect(validFor).toBeLessThanOrEqual(300_000);
    await adapter.revoke!(credential);
    expect(await fx.leaseRoles()).toEqual([]);
  });

  it('re-keys the same role on renewal, and the old lease’s revoke leaves the new owner alone', async () => {
    const first = await adapter.issue(scope(fx, 'lse_first'));
    const second = await adapter.issue(scope(fx, 'lse_second'));
    expect(second.fields.username).toBe(first.fields.username);
    expect(second.fields.password).not.toBe(first.fields.password);
    await adapter.revoke!(first);
    expect(await fx.leaseRoles()).toEqual([first.fields.username]);
    await adapter.revoke!(second);
    expect(await fx.leaseRoles()).toEqual([]);
    await expect(adapter.revoke!(second)).resolves.toBeUndefined(); // idempotent
  });

  it('a renewal keeps the role and its live sessions; only the newest lease’s revoke ends them', async () => {
    const taskId = `tsk_${fx.suffix}ffffffffffffff`;
    const first = await adapter.issue(scope(fx, 'lse_r1', taskId));
    const { hostname, port } = new URL(PG_URL);
    const session = new pg.Client({
      host: hostname,
      port: Number(port),
      database: fx.database,
      user: first.fields.username,
      password: first.fields.password,
    });
    await session.connect();
    const renewed = await adapter.issue(scope(fx, 'lse_r2', taskId));
    await adapter.revoke!(first); // what the revocation queue does with the renewed lease's old credential
    expect((await session.query('SELECT count(*)::int AS n FROM items')).rows[0]).toEqual({ n: 2 });
    const ended = new Promise<Error>((resolve) => session.on('error', resolve));
    await adapter.revoke!(renewed);
    expect((await ended).message).toMatch(/terminat/);
    expect(await fx.leaseRoles()).toEqual([]);
  });

  it('ends the role’s live sessions and drops the objects it created before dropping it', async () => {
    await fx.sql(`GRANT CREATE ON SCHEMA public TO ${pg.escapeIdentifier(fx.readWrite)}`);
    const rw = await createAdapter({ ...options(), template: fx.readWrite }, context());
    const credential = await rw.issue(scope(fx, 'lse_live', `tsk_${fx.suffix}bbbbbbbbbbbbbb`));
    const { hostname, port } = new URL(PG_URL);
    const session = new pg.Client({
      host: hostname,
      port: Number(port),
      database: fx.database,
      user: credential.fields.username,
      password: credential.fields.password,
    });
    await session.connect();
    const ended = new Promise<Error>((resolve) => session.on('error', resolve));
    await session.query('CREATE TABLE scratch (x int)');
    await rw.revoke!(credential);
    expect((await ended).message).toMatch(/terminat/);
    expect(await fx.leaseRoles()).toEqual([]);
    expect((await fx.sql(`SELECT to_regclass('public.scratch') AS t`)).rows[0]?.t).toBeNull();
    await rw.close?.();
  });

  it('sweeps roles whose VALID UNTIL passed long ago, and only those', async () => {
    const stale = await adapter.issue(scope(fx, 'lse_stale', `tsk_${fx.suffix}cccccccccccccc`));
    const fresh = await adapter.issue(scope(fx, 'lse_fresh', `tsk_${fx.suffix}dddddddddddddd`));
    await fx.sql(`ALTER ROLE ${pg.escapeIdentifier(stale.fields.username!)} VALID UNTIL '2000-01-01'`);
    expect(await sweepExpiredRoles(options(), context())).toEqual([stale.fields.username]);
    expect(await fx.leaseRoles()).toEqual([fresh.fields.username]);
    await adapter.revoke!(fresh);
  });

  it('works with a non-superuser admin that has only CREATEROLE (what docs/databases.md asks a DBA for)', async () => {
    const adminRole = `escrowtest_admin_${fx.suffix}`;
    await fx.sql(`CREATE ROLE ${pg.escapeIdentifier(adminRole)} LOGIN CREATEROLE`);
    try {
      const limited = await createAdapter({ ...options(), adminUsername: adminRole }, context());
      const credential = await limited.issue(scope(fx, 'lse_limited', `tsk_${fx.suffix}eeeeeeeeeeeeee`));
      const { hostname, port } = new URL(PG_URL);
      const session = new pg.Client({
        host: hostname,
        port: Number(port),
        database: fx.database,
        user: credential.fields.username,
        password: credential.fields.password,
      });
      await session.connect();
      const ended = new Promise<Error>((resolve) => session.on('error', resolve));
      await limited.revoke!(credential);
      expect((await ended).message).toMatch(/terminat/);
      expect(await fx.leaseRoles()).toEqual([]);
      await limited.close?.();
    } finally {
      await fx.sql(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(adminRole)}`);
    }
  });

  it('refuses to inject into an HTTP request', () => {
    expect(() =>
      adapter.inject({ method: 'GET', path: '/', headers: {} }, { fields: {}, ttlSeconds: 1, wireForms: [] }),
    ).toThrow(EscrowError);
  });
});

describe('the postgres adapter reports failures without secrets', () => {
  it('refuses bad options at start, naming the path and never the admin password', async () => {
    const bad = [
      [{ template: 'Bad-Name' }, 'targets[0].credential.template'],
      [{ adminPassword: CANARY }, 'targets[0].credential.adminPassword'],
      [{ notAnOption: 1 }, 'targets[0].credential.notAnOption: unknown key'],
      [{ adminUrl: 'http://x' }, 'targets[0].credential.adminUrl'],
    ] as const;
    for (const [patch, path] of bad) {
      const error = await createAdapter(
        { adapter: 'postgres', ttl: 60, template: 'ro', adminUsername: 'a', ...patch },
        context(),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EscrowError);
      expect((error as EscrowError).message).toContain(path);
      expect(String((error as Error).message)).not.toContain(CANARY);
    }
  });

  it('turns an unreachable server into credential_unavailable with no password in the message', async () => {
    const adapter = await createAdapter(
      {
        adapter: 'postgres',
        ttl: 60,
        template: 'ro',
        adminUsername: 'nobody',
        adminPassword: 'env:PG_ADMIN',
        adminUrl: 'postgres://127.0.0.1:1',
        timeoutMs: 2_000,
      },
      context(),
    );
    const error = (await adapter
      .issue({ leaseId: 'l', taskId: 't', target: 'db', principalId: 'p', intent: '', ttlSeconds: 60 })
      .catch((e: unknown) => e)) as EscrowError;
    expect(error.code).toBe('credential_unavailable');
    expect(JSON.stringify({ m: error.message, s: error.stack })).not.toContain(CANARY);
    await adapter.close?.();
  });

  it('runs against PostgreSQL 14 or later (pg_terminate_backend with a timeout)', async () => {
    const c = await superuser();
    expect(Number((await c.query('SHOW server_version_num')).rows[0].server_version_num)).toBeGreaterThanOrEqual(
      140000,
    );
    await c.end();
  });
});
