import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { EscrowError } from '../gateway/errors.js';
import { httpUrl, parseOptions, resolveAtStart, timeoutOption, ttlOption } from './options.js';
import { RabbitAdmin } from './rabbitmq-admin.js';
import type { Adapter, AdapterContext, Credential } from './types.js';

const rabbitmqOptions = z.strictObject({
  adapter: z.literal('rabbitmq'),
  ttl: ttlOption,
  managementUrl: httpUrl,
  adminUsername: z.string().min(1),
  adminPassword: secretRef,
  vhost: z.string().min(1),
  /** Escrow proxies HTTP, and the management API refuses users without a tag: hence `management` by default. */
  tags: z.array(z.string().regex(/^[A-Za-z_-]+$/, 'must be a RabbitMQ user tag')).default(['management']),
  permissions: z.strictObject({ configure: z.string(), write: z.string(), read: z.string() }),
  usernamePrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,32}$/, 'must be 1-32 letters, digits, dots, dashes or underscores')
    .default('escrow-'),
  timeoutMs: timeoutOption,
});

type RabbitmqOptions = z.output<typeof rabbitmqOptions>;

function adminFor(o: RabbitmqOptions, context: AdapterContext): RabbitAdmin {
  return new RabbitAdmin({
    managementUrl: o.managementUrl,
    adminUsername: o.adminUsername,
    adminPassword: () => context.resolveSecret(o.adminPassword),
    timeoutMs: o.timeoutMs,
  });
}

/** `escrow-1767225600-9f2c…`: the prefix, the expiry (epoch seconds) and randomness, so a sweeper needs no store. */
function leaseUsername(prefix: string, expiresAtSeconds: number): string {
  return `${prefix}${expiresAtSeconds}-${randomBytes(8).toString('hex')}`;
}

/** A user this adapter created, and when its lease ended (epoch ms). */
export interface EscrowUser {
  readonly username: string;
  readonly expiresAt: number;
}

function parseUsername(prefix: string, username: string): EscrowUser | undefined {
  if (!username.startsWith(prefix)) return undefined;
  const match = /^(\d{1,12})-[0-9a-f]{16}$/.exec(username.slice(prefix.length));
  return match?.[1] === undefined ? undefined : { username, expiresAt: Number(match[1]) * 1000 };
}

/**
 * `rabbitmq`: a RabbitMQ user per lease, as Vault's RabbitMQ secrets engine does. `issue` creates the user
 * with a random password and grants it the configured permissions on one vhost; `revoke` deletes it.
 */
export function createRabbitmqAdapter(options: Record<string, unknown>, context: AdapterContext): Adapter {
  const o = parseOptions(rabbitmqOptions, options, context.path);
  resolveAtStart(context, o.adminPassword, 'adminPassword'); // fail at start, not on the first request
  const admin = adminFor(o, context);
  return {
    kind: 'rabbitmq',
    async issue(scope): Promise<Credential> {
      const ttlSeconds = Math.min(o.ttl, scope.ttlSeconds);
      const username = leaseUsername(o.usernamePrefix, Math.ceil(context.now() / 1000) + ttlSeconds);
      const password = randomBytes(24).toString('base64url');
      await admin.putUser(username, password, o.tags);
      try {
        await admin.putPermissions(o.vhost, username, o.permissions);
      } catch (error) {
        await admin.deleteUser(username).catch(() => {}); // the error below is the one that matters
        throw error;
      }
      const pair = `${username}:${password}`;
      return {
        fields: { username, password },
        ttlSeconds,
        wireForms: [password, Buffer.from(pair).toString('base64'), pair],
        revocationHandle: username,
      };
    },
    inject(request, credential) {
      const { username = '', password = '' } = credential.fields;
      request.headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    },
    async revoke(credential) {
      const username = credential.revocationHandle ?? credential.fields.username;
      if (username === undefined) throw new EscrowError('internal', 'a rabbitmq credential without a username');
      await admin.deleteUser(username);
    },
  };
}

/** Every user this adapter's options created (by prefix), with the expiry written in its name. */
export async function listEscrowUsers(
  options: Record<string, unknown>,
  context: AdapterContext,
): Promise<EscrowUser[]> {
  const o = parseOptions(rabbitmqOptions, options, context.path);
  const names = await adminFor(o, context).listUsernames();
  return names.map((name) => parseUsername(o.usernamePrefix, name)).filter((user) => user !== undefined);
}

/**
 * Delete the users whose lease has ended but who were never revoked (Escrow stopped, revocation failed).
 * Returns the deleted usernames. `graceMs` keeps users a little past their end, for clock skew.
 */
export async function sweepExpiredUsers(
  options: Record<string, unknown>,
  context: AdapterContext,
  graceMs = 60_000,
): Promise<string[]> {
  const o = parseOptions(rabbitmqOptions, options, context.path);
  const admin = adminFor(o, context);
  const now = context.now();
  const expired = (await listEscrowUsers(options, context)).filter((user) => user.expiresAt + graceMs <= now);
  for (const user of expired) await admin.deleteUser(user.username);
  return expired.map((user) => user.username);
}
