import { type JWTPayload, jwtVerify } from 'jose';
import type { IssuerConfig } from '../config/identity-schema.js';
import type { Principal } from '../domain.js';
import { EscrowError } from '../errors.js';
import { checkRequiredClaims, principalClaims } from './claims.js';
import type { DecodedToken } from './compact.js';
import type { KeySource } from './key-source.js';
import { identityError, reasonForJoseError } from './reasons.js';
import { parseSpiffeId } from './spiffe.js';

/** Header parameters that point at key material chosen by the token itself: never honoured. */
const KEY_CARRYING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

/** A verified token: the principal and the claims the caller still needs (replay, binding, cache expiry). */
export interface VerifiedToken {
  readonly principal: Principal;
  readonly payload: JWTPayload;
}

/** Verifies tokens of one configured issuer. */
export class IssuerVerifier {
  readonly config: IssuerConfig;
  readonly keys: KeySource;
  readonly #now: () => number;

  constructor(config: IssuerConfig, keys: KeySource, now: () => number) {
    this.config = config;
    this.keys = keys;
    this.#now = now;
  }

  async verify(token: string, decoded: DecodedToken): Promise<VerifiedToken> {
    const { config } = this;
    if (Buffer.byteLength(token) > config.maxTokenBytes) throw identityError('token_too_large');
    this.#checkHeader(decoded.header);
    if (!decoded.hasSignature) throw identityError('bad_signature');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys.resolve, {
        algorithms: config.algorithms,
        audience: config.audience,
        clockTolerance: config.clockToleranceSeconds,
        currentDate: new Date(this.#now()),
        maxTokenAge: config.maxTokenAgeSeconds,
        requiredClaims: config.issuer === undefined ? ['sub', 'aud', 'exp'] : ['iss', 'sub', 'aud', 'exp'],
        ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
        ...(config.typ === undefined ? {} : { typ: config.typ }),
      }));
    } catch (error) {
      if (error instanceof EscrowError) throw error;
      throw identityError(reasonForJoseError(error), error);
    }
    return { principal: this.#principal(payload), payload };
  }

  #checkHeader(header: Readonly<Record<string, unknown>>): void {
    const alg = header.alg;
    if (typeof alg !== 'string' || !(this.config.algorithms as readonly string[]).includes(alg)) {
      throw identityError('algorithm_not_allowed');
    }
    if (KEY_CARRYING_HEADERS.some((name) => Object.hasOwn(header, name))) throw identityError('header_not_allowed');
    // Escrow understands no JWS extension; `b64: false` in particular would change what is signed.
    if (Object.hasOwn(header, 'crit') || Object.hasOwn(header, 'b64')) throw identityError('header_not_allowed');
    if (header.kid !== undefined && typeof header.kid !== 'string') throw identityError('token_malformed');
  }

  #principal(payload: JWTPayload): Principal {
    const { config } = this;
    const sub = payload.sub;
    const exp = payload.exp;
    const iat = payload.iat;
    if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number') throw identityError('claim_missing');
    if (typeof iat === 'number' && exp - iat > config.maxTokenAgeSeconds)
      throw identityError('token_lifetime_too_long');
    if (config.trustDomain !== undefined) {
      const spiffe = parseSpiffeId(sub);
      if (spiffe === undefined) throw identityError('spiffe_id_invalid');
      if (spiffe.trustDomain !== config.trustDomain) throw identityError('trust_domain_mismatch');
    }
    checkRequiredClaims(payload, config.requiredClaims);
    return Object.freeze({
      type: config.principal,
      id: sub,
      issuer: config.name,
      authMethod: 'jwt',
      ...(config.trustDomain === undefined ? {} : { trustDomain: config.trustDomain }),
      claims: principalClaims(payload, config.claimTags),
      ...(typeof iat === 'number' ? { issuedAt: iat } : {}),
      expiresAt: exp,
    });
  }
}
