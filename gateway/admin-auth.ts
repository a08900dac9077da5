import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Config } from './config/schema.js';
import { EscrowError } from './errors.js';

/** Shortest admin token accepted at start: a guessable one would defeat the point. */
const MIN_TOKEN_LENGTH = 16;

/** Whether an admin request carries the admin credential. */
export interface AdminAuth {
  /** Throws EscrowError('admin_unauthorized') unless `req` carries the admin token or a trusted client cert. */
  check(req: IncomingMessage): void;
  /** Whether `path` is answered without the credential (`/healthz`, `/readyz`, `/metrics` unless configured). */
  isOpen(path: string): boolean;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Resolve `admin.token` and refuse one too short to be a credential; errors name the config path. */
export function readAdminToken(ref: string, resolveSecret: (ref: string) => string): string {
  let token: string;
  try {
    token = resolveSecret(ref);
  } catch (error) {
    throw new EscrowError('config_invalid', `admin.token: ${(error as Error).message}`);
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new EscrowError('config_invalid', `admin.token: must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  return token;
}

/**
 * The admin credential check (DESIGN.md "Additions"): a bearer token from `admin.token`, or a client certificate
 * that the TLS admin listener verified against `admin.clientCA`. Either one is enough. The token is compared as
 * a SHA-256 digest in constant time. With neither configured, every protected endpoint is refused (fail closed).
 */
export function createAdminAuth(admin: Config['admin'], resolveSecret: (ref: string) => string): AdminAuth {
  const tokenDigest = admin.token === undefined ? undefined : digest(readAdminToken(admin.token, resolveSecret));
  const mtls = admin.clientCA !== undefined;
  const open = new Set(['/healthz', '/readyz', ...(admin.authenticateMetrics ? [] : ['/metrics'])]);
  return {
    isOpen: (path) => open.has(path),
    check(req) {
      if (mtls && (req.socket as TLSSocket).authorized === true) return;
      const header = req.headers.authorization ?? '';
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
      if (tokenDigest && presented !== undefined && timingSafeEqual(digest(presented), tokenDigest)) return;
      if (!tokenDigest && !mtls) {
        throw new EscrowError(
          'admin_unauthorized',
          'the admin API is disabled: configure admin.token or admin.clientCA',
          {
            reason: 'admin_credential_not_configured',
          },
        );
      }
      throw new EscrowError('admin_unauthorized', 'the admin credential is missing or wrong', {
        reason: presented === undefined ? 'credential_missing' : 'credential_rejected',
      });
    },
  };
}
