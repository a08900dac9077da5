/** The SQL the `postgres` adapter runs as its admin role: create or re-key a lease's role, drop it. */
import type { Pool, PoolClient } from 'pg';
import pgUtils from 'pg/lib/utils.js';
import { EscrowError } from '../gateway/errors.js';

export interface RoleAdminOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: () => string;
  readonly database: string;
  readonly ssl?: { ca?: string; servername?: string };
  readonly timeoutMs: number;
}

/** What a lease's role is created with. */
export interface RoleGrant {
  readonly role: string;
  /** The SCRAM verifier (never the password itself). */
  readonly verifier: string;
  readonly validUntil: Date;
  readonly template: string;
  readonly connectionLimit: number;
  /** Stored as the role's comment: which lease currently owns the role (a revoke of an older lease is a no-op). */
  readonly leaseId: string;
  readonly note: string;
}

const q = pgUtils.escapeIdentifier;
const lit = pgUtils.escapeLiteral;

/**
 * `pg` is loaded on first use, not at start: loading it constructs a fetch `Response` (its Cloudflare check),
 * which makes Node's built-in undici claim the global dispatcher before the undici package Escrow depends on
 * (so every global `fetch` in the process would change undici version with the import order).
 */
const loadPg = () => import('pg').then((m) => m.default);

/** Serialises work on one role across replicas: a transaction-scoped advisory lock keyed by the role name. */
const LOCK = `SELECT pg_advisory_xact_lock(hashtextextended('escrow role ' || $1, 0))`;

function failure(what: string, cause: unknown): EscrowError {
  const code = (cause as { code?: unknown }).code;
  // The SQLSTATE is safe to show; the driver's message is kept as the cause only (never sent to an agent).
  const state = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : '';
  return new EscrowError('credential_unavailable', `postgres: ${what} failed${state}`, { cause });
}

/** A small pool of admin connections that lets the process exit when idle. */
export class RoleAdmin {
  #pool: Promise<Pool> | undefined;
  readonly #o: RoleAdminOptions;

  constructor(options: RoleAdminOptions) {
    this.#o = options;
  }

  /** The admin pool for the admin database, created on first use. */
  #admin(): Promise<Pool> {
    this.#pool ??= this.#newPool(this.#o.database);
    return this.#pool;
  }

  async #newPool(database: string): Promise<Pool> {
    const o = this.#o;
    const pg = await loadPg();
    const pool = new pg.Pool({
      host: o.host,
      port: o.port,
      user: o.user,
      database,
      ...(o.password ? { password: o.password } : {}),
      ...(o.ssl ? { ssl: { ...o.ssl, rejectUnauthorized: true } } : {}),
      max: 4,
      idleTimeoutMillis: 5_000,
      allowExitOnIdle: true,
      connectionTimeoutMillis: o.timeoutMs,
      query_timeout: o.timeoutMs,
      application_name: 'escrow-admin',
    });
    pool.on('error', () => {}); // an idle client dropped by the server: the next checkout reconnects
    return pool;
  }

  async #transaction<T>(role: string, what: string, work: (c: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await (await this.#admin()).connect();
    } catch (cause) {
      throw failure(`connecting as the admin role for ${what}`, cause);
    }
    try {
      await client.query('BEGIN');
      await client.query(LOCK, [role]);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (cause) {
      await client.query('ROLLBACK').catch(() => {});
      throw cause instanceof EscrowError ? cause : failure(what, cause);
    } finally {
      client.release();
    }
  }

  /** Create the role, or give an existing one (same task and target) the new verifier, expiry and owner lease. */
  async grant(g: RoleGrant): Promise<void> {
    await this.#transaction(g.role, 'creating the lease role', async (c) => {
      const exists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [g.role])).rowCount === 1;
      const attributes =
        `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT ` +
        `CONNECTION LIMIT ${g.connectionLimit} PASSWORD ${lit(g.verifier)} ` +
        `VALID UNTIL ${lit(g.validUntil.toISOString())}`;
      if (exists) await c.query(`ALTER ROLE ${q(g.role)} WITH ${attributes}`);
      // ROLE CURRENT_USER makes the admin a member, which a non-superuser admin needs to end the role's sessions.
      else await c.query(`CREATE ROLE ${q(g.role)} WITH ${attributes} IN ROLE ${q(g.template)} ROLE CURRENT_USER`);
      await c.query(`COMMENT ON ROLE ${q(g.role)} IS ${lit(`escrow lease=${g.leaseId} ${g.note}`)}`);
    });
  }

  /**
   * Revoke the role of lease `leaseId`: refuse new logins, end its sessions, drop what it owns, drop it. A role
   * that another (newer) lease of the same task owns is left alone: that lease's grant already replaced the
   * old password. Idempotent: a role already gone counts as dropped.
   */
  async revoke(role: string, leaseId: string | undefined): Promise<void> {
    const owned = await this.#transaction(role, 'revoking the lease role', async (c) => {
      const found = await c.query<{ note: string | null }>(
        `SELECT shobj_description(oid, 'pg_authid') AS note FROM pg_roles WHERE rolname = $1`,
        [role],
      );
      const note = found.rows[0]?.note ?? '';
      if (found.rowCount === 0 || (leaseId !== undefined && !note.startsWith(`escrow lease=${leaseId} `))) return false;
      await c.query(`ALTER ROLE ${q(role)} NOLOGIN`);
      return true;
    });
    if (owned) await this.drop(role);
  }

  /** End the role's sessions (waiting up to 5 s for each), drop what it owns in every database, then the role. */
  async drop(role: string): Promise<void> {
    try {
      const admin = await this.#admin();
      await admin.query(
        'SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()',
        [role],
      );
      const dbs = await admin.query<{ datname: string }>(
        `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
          WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
        [role],
      );
      for (const { datname } of dbs.rows) await this.#dropOwnedIn(datname, role);
      await admin.query(`DROP ROLE IF EXISTS ${q(role)}`);
    } catch (cause) {
      throw cause instanceof EscrowError ? cause : failure('dropping the lease role', cause);
    }
  }

  /** `DROP OWNED` acts on the current database only: objects the role created elsewhere need a visit there. */
  async #dropOwnedIn(database: string, role: string): Promise<void> {
    if (database === this.#o.database) {
      await (await this.#admin()).query(`DROP OWNED BY ${q(role)}`);
      return;
    }
    const pool = await this.#newPool(database);
    try {
      await pool.query(`DROP OWNED BY ${q(role)}`);
    } finally {
      await pool.end();
    }
  }

  /** Roles named with `prefix` whose VALID UNTIL is before `before` (leases that ended without a revocation). */
  async expiredRoles(prefix: string, before: Date): Promise<string[]> {
    const rows = await (await this.#admin()).query<{ rolname: string }>(
      `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) AND rolvaliduntil < $2 ORDER BY rolname`,
      [prefix, before.toISOString()],
    );
    return rows.rows.map((r) => r.rolname);
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await (await pool)?.end();
  }
}
