import type { Redis } from 'ioredis';
import type { IdentityConfig } from '../config/identity-schema.js';
import type { Principal } from '../domain.js';
import { EscrowError } from '../errors.js';
import { decodeCompact } from './compact.js';
import type { FetchLike } from './fetch.js';
import { IssuerVerifier, type VerifiedToken } from './issuer.js';
import { KeySource } from './key-source.js';
import { identityError } from './reasons.js';
import { claimTokenOnce } from './replay.js';
import { parseSpiffeId } from './spiffe.js';
import { presentedToken } from './token.js';
import type { IdentityInput, IdentityVerifier } from './types.js';

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
}

/**
 * Build the identity stage from validated config. `file:` key sets are read now (a missing or broken file
 * stops start-up with `config_invalid`); remote key sets are fetched in the background and on first use.
 */
export async function createIdentityVerifier(
  config: IdentityConfig,
  options: IdentityVerifierOptions,
): Promise<IdentityVerifier> {
  const now = options.now ?? Date.now;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const issuers = config.issuers.map(
    (issuer) =>
      new IssuerVerifier(issuer, new KeySource({ issuer, baseDir: options.baseDir, now, fetch: fetchImpl }), now),
  );
  if (issuers.some((i) => i.config.replayCache) && options.redis === undefined) {
    throw new EscrowError('config_invalid', 'identity.issuers[].replayCache needs a Redis store');
  }
  await warmUp(issuers);
  return new Verifier(issuers, { now, redis: options.redis, redisPrefix: options.redisPrefix ?? 'escrow:' });
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

interface VerifierDeps {
  readonly now: () => number;
  readonly redis: Redis | undefined;
  readonly redisPrefix: string;
}

class Verifier implements IdentityVerifier {
  readonly tokenHeaders: readonly string[];
  readonly #issuers: readonly IssuerVerifier[];
  readonly #deps: VerifierDeps;
  readonly #maxTokenBytes: number;

  constructor(issuers: readonly IssuerVerifier[], deps: VerifierDeps) {
    this.#issuers = issuers;
    this.#deps = deps;
    this.tokenHeaders = Object.freeze([...new Set(issuers.map((i) => i.config.header))]);
    this.#maxTokenBytes = Math.max(...issuers.map((i) => i.config.maxTokenBytes));
  }

  async verify(input: IdentityInput): Promise<Principal> {
    const candidates = input.tokenHeader === undefined ? this.tokenHeaders : [input.tokenHeader.toLowerCase()];
    const presented = presentedToken(input, candidates, this.#maxTokenBytes);
    if (presented === undefined) throw identityError('token_missing');
    const decoded = decodeCompact(presented.token);
    const pool =
      input.tokenHeader === undefined
        ? this.#issuers.filter((i) => i.config.header === presented.header)
        : this.#issuers;
    const verified = await firstAccepting(issuersFor(pool, decoded.payload.iss), presented.token, decoded);
    await this.#claimOnce(verified);
    return verified.principal;
  }

  close(): void {}

  async #claimOnce({ principal, payload }: VerifiedToken): Promise<void> {
    const issuer = this.#issuers.find((i) => i.config.name === principal.issuer);
    if (!issuer?.config.replayCache || this.#deps.redis === undefined) return;
    await claimTokenOnce(this.#deps.redis, {
      prefix: this.#deps.redisPrefix,
      issuer: issuer.config.name,
      jti: payload.jti,
      exp: principal.expiresAt ?? 0,
      toleranceSeconds: issuer.config.clockToleranceSeconds,
      nowMs: this.#deps.now(),
    });
  }
}

/**
 * Issuers that may have minted a token, chosen by its unverified `iss`: the issuers configured with exactly
 * that `iss`, else those configured without one (SPIFFE bundles), which the signature then decides between.
 */
function issuersFor(pool: readonly IssuerVerifier[], iss: unknown): readonly IssuerVerifier[] {
  if (iss !== undefined && typeof iss !== 'string') throw identityError('token_malformed');
  const named = pool.filter((i) => i.config.issuer !== undefined && i.config.issuer === iss);
  if (named.length > 0) return named;
  const unnamed = pool.filter((i) => i.config.issuer === undefined);
  if (unnamed.length > 0) return unnamed;
  throw identityError(iss === undefined ? 'claim_missing' : 'unknown_issuer');
}

/** Failures that only mean "not this issuer's token" when several issuers could have minted it. */
const NOT_THIS_ISSUER = ['unknown_key', 'algorithm_not_allowed'];

/**
 * Try each candidate issuer, those whose trust domain matches the unverified `sub` first. A key or algorithm
 * an issuer does not know passes to the next; any other failure is final. When none accepts, `unknown_key`
 * is reported if any issuer said so (the most telling answer), else the first failure.
 */
async function firstAccepting(
  candidates: readonly IssuerVerifier[],
  token: string,
  decoded: ReturnType<typeof decodeCompact>,
): Promise<VerifiedToken> {
  const sub = decoded.payload.sub;
  const domain = typeof sub === 'string' ? parseSpiffeId(sub)?.trustDomain : undefined;
  const ordered = [...candidates].sort(
    (a, b) => Number(b.config.trustDomain === domain) - Number(a.config.trustDomain === domain),
  );
  const failures: EscrowError[] = [];
  for (const issuer of ordered) {
    try {
      return await issuer.verify(token, decoded);
    } catch (error) {
      if (!(error instanceof EscrowError) || !NOT_THIS_ISSUER.includes(error.reason ?? '')) throw error;
      failures.push(error);
    }
  }
  throw failures.find((f) => f.reason === 'unknown_key') ?? failures[0] ?? identityError('unknown_issuer');
}
