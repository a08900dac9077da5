import type { Redis } from 'ioredis';
import type { IdentityConfig } from '../config/identity-schema.js';
import { EscrowError } from '../errors.js';
import type { FetchLike } from './fetch.js';
import { IssuerVerifier } from './issuer.js';
import { KeySource } from './key-source.js';
import type { IdentityVerifier } from './types.js';
import { Verifier } from './verifier.js';

export { hasPeerCertificate, verifyPeerCertificate } from './mtls.js';
export type { IdentityReason } from './reasons.js';
export type { IdentityInput, IdentityVerifier } from './types.js';

export interface IdentityVerifierOptions {
  /** Directory that `file:` JWKS paths are relative to (the config file's directory). */
  readonly baseDir: string;
  /** Epoch milliseconds; a controllable clock for tests. */
  readonly now?: () => number;
  /** Needed when an issuer sets `replayCache: true`. */
  readonly redis?: Redis;
  readonly redisPrefix?: string;
  readonly fetch?: FetchLike;
  /** Told of every failed read of an issuer's key set (start-up included), for the log and metrics. */
  readonly onKeyFetchFailure?: (issuer: string, error: unknown) => void;
  /** Read remote key sets (JWKS URLs, discovery) now; default true. `escrow check --offline` reads only files. */
  readonly fetchRemote?: boolean;
}

/**
 * Build the identity stage from validated config. Every key set is read now: a `file:` set that cannot be read
 * stops start-up (`config_invalid`); a remote one that cannot be fetched does not (its issuer's tokens are
 * refused with `jwks_unavailable`, and `/readyz` says not ready, until a later read succeeds: at most one per
 * cooldown, started by a token or a readiness probe).
 */
export async function createIdentityVerifier(
  config: IdentityConfig,
  options: IdentityVerifierOptions,
): Promise<IdentityVerifier> {
  const now = options.now ?? Date.now;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const onFailure = options.onKeyFetchFailure;
  const issuers = config.issuers.map((issuer) => {
    const keys = new KeySource({
      issuer,
      baseDir: options.baseDir,
      now,
      fetch: fetchImpl,
      ...(onFailure ? { onFailure: (error: unknown) => onFailure(issuer.name, error) } : {}),
    });
    return new IssuerVerifier(issuer, keys, now);
  });
  if (issuers.some((i) => i.config.replayCache) && options.redis === undefined) {
    throw new EscrowError('config_invalid', 'identity.issuers[].replayCache needs a Redis store');
  }
  await warmUp(options.fetchRemote === false ? issuers.filter((i) => i.config.jwks.startsWith('file:')) : issuers);
  return new Verifier(issuers, {
    now,
    redis: options.redis,
    redisPrefix: options.redisPrefix ?? 'escrow:',
    // Only certificates that passed the TLS handshake against proxy.tls.clientCA reach verify(): the operator
    // who configured that CA trusts them, so without identity.mtls they become Agents.
    mtls: config.mtls ?? { principal: 'Agent' },
    cacheSize: config.cacheSize,
  });
}

async function warmUp(issuers: readonly IssuerVerifier[]): Promise<void> {
  await Promise.all(
    issuers.map(async ({ config, keys }) => {
      const ok = await keys.refresh();
      if (!ok && config.jwks.startsWith('file:')) {
        throw new EscrowError('config_invalid', `identity issuer ${config.name}: cannot read its JWK Set`, {
          cause: keys.lastError,
        });
      }
    }),
  );
}
