import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { EscrowError } from '../gateway/errors.js';
import { checkPostgresUrl, postgresAddress, postgresSchemas } from '../gateway/postgres/config.js';
import { parseOptions, resolveAtStart, timeoutOption, ttlOption } from './options.js';
import { RoleAdmin } from './postgres-roles.js';
import { scramVerifier } from './postgres-scram.js';
import type { Adapter, AdapterContext, Credential } from './types.js';

/** An SQL identifier Escrow accepts in config: plain, so it needs no thought about case or quoting. */
const identifier = z.string().regex(/^[a-z_][a-z0-9_$]{0,62}$/, 'must be a lower-case PostgreSQL role name');

const postgresOptions = z.strictObject({
  adapter: z.literal('postgres'),
  ttl: ttlOption,
  /** The role that carries the grants; every lease role is a member of it (and gets nothing else). */
  template: identifier,
  adminUsername: z.string().min(1),
  adminPassword: secretRef.optional(),
  adminDatabase: z.string().min(1).default('postgres'),
  /** Where the admin connects (default: the target's `upstream`). */
  adminUrl: z
    .string()
    .refine((u) => checkPostgresUrl(u) === undefined, 'must be a postgres://host:port URL')
    .optional(),
  tls: postgresSchemas(secretRef).clientTls.optional(),
  rolePrefix: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,23}$/, 'must be 1-24 lower-case letters, digits or underscores')
    .default('escrow_'),
  /** CONNECTION LIMIT of each lease role: how many sessions one task may hold at the server. */
  connectionLimit: z.number().int().min(1).max(10_000).default(20),
  timeoutMs: timeoutOption,
});

type PostgresOptions = z.output<typeof postgresOptions>;

/** One role per (task, target): the same name on every replica and at every renewal, so sessions survive a renewal. */
export function leaseRoleName(prefix: string, taskId: string, target: string): string {
  return `${prefix}${createHash('sha256').update(`${taskId}\u0000${target}`).digest('hex').slice(0, 24)}`;
}

function adminFor(o: PostgresOptions, context: AdapterContext): RoleAdmin {
  const url = o.adminUrl ?? context.upstream;
  if (url === undefined || checkPostgresUrl(url) !== undefined) {
    throw new EscrowError('config_invalid', `${context.path}.adminUrl: required (the target has no postgres upstream)`);
  }
  const { host, port } = postgresAddress(url);
  const ref = o.adminPassword;
  return new RoleAdmin({
    host,
    port,
    user: o.adminUsername,
    database: o.adminDatabase,
    ...(ref ? { password: () => context.resolveSecret(ref) } : {}),
    ...(o.tls
      ? {
          ssl: {
            ...(o.tls.ca ? { ca: resolveAtStart(context, o.tls.ca, 'tls.ca') } : {}),
            ...(o.tls.serverName ? { servername: o.tls.serverName } : {}),
          },
        }
      : {}),
    timeoutMs: o.timeoutMs,
  });
}

/** `role lease`: what `revoke` needs, and nothing secret. */
function handle(role: string, leaseId: string): string {
  return `${role} ${leaseId}`;
}

/**
 * `postgres`: a login role per (task, target), member of a template role that carries the grants, as Vault's
 * database engine does but tied to the task. `issue` creates the role (or re-keys it on renewal) with a random
 * password, sent to the server only as a SCRAM verifier; `revoke` ends its sessions and drops it. Serves
 * `protocol: postgres` targets only: the listener logs in with `username`/`password`, nothing is injected into HTTP.
 */
export function createPostgresAdapter(options: Record<string, unknown>, context: AdapterContext): Adapter {
  const o = parseOptions(postgresOptions, options, context.path);
  if (o.adminPassword) resolveAtStart(context, o.adminPassword, 'adminPassword'); // fail at start
  const admin = adminFor(o, context);
  return {
    kind: 'postgres',
    async issue(scope): Promise<Credential> {
      const ttlSeconds = Math.min(o.ttl, scope.ttlSeconds);
      const role = leaseRoleName(o.rolePrefix, scope.taskId, scope.target);
      const password = randomBytes(24).toString('base64url');
      await admin.grant({
        role,
        verifier: await scramVerifier(password),
        validUntil: new Date(context.now() + ttlSeconds * 1000),
        template: o.template,
        connectionLimit: o.connectionLimit,
        leaseId: scope.leaseId,
        note: `task=${scope.taskId} target=${scope.target}`,
      });
      return {
        fields: { username: role, password },
        ttlSeconds,
        wireForms: [password],
        revocationHandle: handle(role, scope.leaseId),
      };
    },
    inject() {
      throw new EscrowError('internal', 'the postgres adapter serves protocol: postgres targets only');
    },
    async revoke(credential) {
      const [role, leaseId] = (credential.revocationHandle ?? credential.fields.username ?? '').split(' ');
      if (!role) throw new EscrowError('internal', 'a postgres credential without a role');
      await admin.revoke(role, leaseId);
    },
    close: () => admin.close(),
  };
}

/**
 * Drop the lease roles (by prefix) whose VALID UNTIL passed more than `graceMs` ago: roles left behind when
 * Escrow stopped before revoking them. A live task's session outlives its role's VALID UNTIL (which only stops
 * new logins), so the default grace is a day, `tasks.maxTtlSeconds`' default. Returns the dropped names.
 */
export async function sweepExpiredRoles(
  options: Record<string, unknown>,
  context: AdapterContext,
  graceMs = 86_400_000,
): Promise<string[]> {
  const o = parseOptions(postgresOptions, options, context.path);
  const admin = adminFor(o, context);
  try {
    const expired = await admin.expiredRoles(o.rolePrefix, new Date(context.now() - graceMs));
    for (const role of expired) await admin.drop(role);
    return expired;
  } finally {
    await admin.close();
  }
}
