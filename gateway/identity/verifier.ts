import type { Redis } from 'ioredis';
import { explainError } from '../cause.js';
import type { Principal } from '../domain.js';
import { EscrowError } from '../errors.js';
import { VerifiedCache } from './cache.js';
import { type DecodedToken, decodeCompact } from './compact.js';
import type { IssuerVerifier, VerifiedToken } from './issuer.js';
import { hasPeerCertificate, type MtlsConfig, verifyPeerCertificate } from './mtls.js';
import { identityError } from './reasons.js';
import { claimTokenOnce } from './replay.js';
import { parseSpiffeId } from './spiffe.js';
import { type PresentedToken, presentedToken } from './token.js';
import type { IdentityInput, IdentityVerifier, IssuerKeyState } from './types.js';

export interface VerifierDeps {
  readonly now: () => number;
  readonly redis: Redis | undefined;
  readonly redisPrefix: string;
  readonly mtls: MtlsConfig;
  readonly cacheSize: number;
}

interface CachedToken extends VerifiedToken {
  readonly issuer: IssuerVerifier;
}

/** The identity stage: a token (JWT) if one is presented, else the client certificate (mTLS), else 401. */
export class Verifier implements IdentityVerifier {
  readonly tokenHeaders: readonly string[];
  readonly #issuers: readonly IssuerVerifier[];
  readonly #deps: VerifierDeps;
  readonly #maxTokenBytes: number;
  readonly #cache: VerifiedCache<CachedToken>;
  /** Token header lists for targets with a header of their own (`identityHeader`), by that header. */
  readonly #withExtra = new Map<string, readonly string[]>();

  constructor(issuers: readonly IssuerVerifier[], deps: VerifierDeps) {
    this.#issuers = issuers;
    this.#deps = deps;
    this.tokenHeaders = Object.freeze([...new Set(issuers.map((i) => i.config.header))]);
    this.#maxTokenBytes = Math.max(...issuers.map((i) => i.config.maxTokenBytes));
    this.#cache = new VerifiedCache(deps.cacheSize, deps.now);
  }

  async verify(input: IdentityInput): Promise<Principal> {
    // A target's own header (e.g. `x-api-key`, where its SDK sends the key) is accepted beside the issuers'
    // headers, so the SDK's natural `apiKey: token` works either way. A token in two of them is refused
    // (presentedToken): Escrow and the upstream must never disagree on who is calling.
    const extra = input.tokenHeader?.toLowerCase();
    const presented = presentedToken(input, this.#candidates(extra), this.#maxTokenBytes);
    const cert = hasPeerCertificate(input.peerCertificate) ? input.peerCertificate : undefined;
    if (presented === undefined) {
      if (cert !== undefined) return verifyPeerCertificate(cert, this.#deps.mtls, this.#deps.now());
      throw identityError('token_missing');
    }
    const overridden = presented.header === extra;
    const key = VerifiedCache.key(overridden ? '*' : presented.header, presented.token);
    const verified = this.#cache.get(key) ?? (await this.#verifyToken(presented, overridden, key));
    return this.#principalOf(verified, input);
  }

  cached(input: IdentityInput): Principal | undefined {
    const extra = input.tokenHeader?.toLowerCase();
    const presented = presentedToken(input, this.#candidates(extra), this.#maxTokenBytes);
    if (presented === undefined) return undefined;
    const key = VerifiedCache.key(presented.header === extra ? '*' : presented.header, presented.token);
    const verified = this.#cache.get(key);
    return verified === undefined ? undefined : this.#principalOf(verified, input);
  }

  /** The headers a token may come in: the issuers', and a target's own first (one list per such header, kept). */
  #candidates(extra: string | undefined): readonly string[] {
    if (extra === undefined) return this.tokenHeaders;
    let candidates = this.#withExtra.get(extra);
    if (candidates === undefined) {
      candidates = Object.freeze([...new Set([extra, ...this.tokenHeaders])]);
      if (this.#withExtra.size < 64) this.#withExtra.set(extra, candidates);
    }
    return candidates;
  }

  #principalOf(verified: CachedToken, input: IdentityInput): Principal {
    if (verified.issuer.config.bindToClientCert) this.#checkBinding(verified.principal, input);
    return verified.principal;
  }

  keyStates(options: { readonly retry?: boolean } = {}): readonly IssuerKeyState[] {
    return this.#issuers.map(({ config, keys }) => {
      if (options.retry) keys.retryIfDue();
      const state = keys.state();
      return {
        issuer: config.name,
        state,
        source: keys.source,
        ...(state !== 'ok' && keys.lastError !== undefined ? { error: explainError(keys.lastError) } : {}),
      };
    });
  }

  close(): void {
    this.#cache.clear();
  }

  async #verifyToken(presented: PresentedToken, overridden: boolean, key: string): Promise<CachedToken> {
    const decoded = decodeCompact(presented.token);
    const pool = overridden ? this.#issuers : this.#issuers.filter((i) => i.config.header === presented.header);
    const verified = await firstAccepting(issuersFor(pool, decoded.payload.iss), presented.token, decoded);
    const { config } = verified.issuer;
    if (config.replayCache) {
      await this.#claimOnce(verified);
      return verified; // a single-use token is never served from cache: that would skip the replay check
    }
    this.#cache.set(key, verified, this.#deadline(verified));
    return verified;
  }

  /** A cached identity dies at `exp`, at the maximum token age, or after one key refresh interval. */
  #deadline({ principal, issuer }: CachedToken): number {
    const { jwksRefreshSeconds, maxTokenAgeSeconds } = issuer.config;
    const limits = [(principal.expiresAt ?? 0) * 1000, this.#deps.now() + jwksRefreshSeconds * 1000];
    if (principal.issuedAt !== undefined) limits.push((principal.issuedAt + maxTokenAgeSeconds) * 1000);
    return Math.min(...limits);
  }

  #checkBinding(principal: Principal, input: IdentityInput): void {
    const cert = input.peerCertificate;
    if (!hasPeerCertificate(cert)) throw identityError('cert_binding_mismatch');
    const fromCert = verifyPeerCertificate(cert, this.#deps.mtls, this.#deps.now());
    if (fromCert.id !== principal.id) throw identityError('cert_binding_mismatch');
  }

  async #claimOnce({ principal, payload, issuer }: CachedToken): Promise<void> {
    if (this.#deps.redis === undefined) throw identityError('replay_cache_unavailable');
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
  decoded: DecodedToken,
): Promise<CachedToken> {
  const sub = decoded.payload.sub;
  const domain = typeof sub === 'string' ? parseSpiffeId(sub)?.trustDomain : undefined;
  const ordered = [...candidates].sort(
    (a, b) => Number(b.config.trustDomain === domain) - Number(a.config.trustDomain === domain),
  );
  const failures: EscrowError[] = [];
  for (const issuer of ordered) {
    try {
      return { ...(await issuer.verify(token, decoded)), issuer };
    } catch (error) {
      if (!(error instanceof EscrowError) || !NOT_THIS_ISSUER.includes(error.reason ?? '')) throw error;
      failures.push(error);
    }
  }
  throw failures.find((f) => f.reason === 'unknown_key') ?? failures[0] ?? identityError('unknown_issuer');
}
