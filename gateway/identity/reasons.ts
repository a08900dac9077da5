import { errors as jose } from 'jose';
import { EscrowError } from '../errors.js';
import type { IdentityReason } from '../metric-labels.js';

export type { IdentityReason };

/**
 * The agent-facing message per reason. Generic on purpose: it never carries the token, a claim value or a
 * library message (jose messages can quote claim values).
 */
const MESSAGES: Readonly<Record<IdentityReason, string>> = {
  token_missing: 'no workload identity token was presented',
  token_malformed: 'the workload identity token is malformed',
  token_too_large: 'the workload identity token is too large',
  token_expired: 'the workload identity token has expired',
  token_not_yet_valid: 'the workload identity token is not valid yet',
  token_too_old: 'the workload identity token was issued too long ago',
  token_lifetime_too_long: 'the workload identity token lives longer than allowed',
  token_replayed: 'the workload identity token was already used',
  audience_mismatch: 'the workload identity token is not meant for this gateway',
  issuer_mismatch: 'the workload identity token has an unexpected issuer',
  unknown_issuer: 'the workload identity token comes from an unknown issuer',
  unknown_key: 'the workload identity token was signed with an unknown key',
  bad_signature: 'the workload identity token signature is invalid',
  algorithm_not_allowed: 'the workload identity token uses an algorithm that is not allowed',
  header_not_allowed: 'the workload identity token carries a header that is not allowed',
  claim_missing: 'the workload identity token lacks a required claim',
  claim_mismatch: 'the workload identity token has an unexpected claim value',
  trust_domain_mismatch: 'the workload identity is not in the expected trust domain',
  spiffe_id_invalid: 'the workload identity is not a valid SPIFFE ID',
  typ_mismatch: 'the workload identity token has an unexpected type',
  duplicate_header: 'the workload identity token was presented more than once',
  jwks_unavailable: 'the keys of the workload identity issuer are unavailable',
  replay_cache_unavailable: 'the workload identity token could not be checked for replay',
  cert_invalid: 'the client certificate is not a valid workload identity',
  cert_binding_mismatch: 'the workload identity token does not match the client certificate',
};

/**
 * An identity failure with its stable reason: `identity_missing` when nothing was presented, `store_unavailable`
 * when the replay cache is down, `identity_rejected` otherwise.
 */
export function identityError(reason: IdentityReason, cause?: unknown): EscrowError {
  // A replay check that cannot reach Redis is the store failing, not the caller: 503, still denied.
  const code =
    reason === 'token_missing'
      ? 'identity_missing'
      : reason === 'replay_cache_unavailable'
        ? 'store_unavailable'
        : 'identity_rejected';
  // The cause is kept for operators, but a jose error's `payload` holds claim values: drop it.
  const safeCause = cause instanceof jose.JOSEError ? new Error(cause.code) : cause;
  return new EscrowError(code, MESSAGES[reason], { reason, cause: safeCause });
}

/** Map a jose verification error to a reason code. Anything unknown is treated as malformed (denied). */
export function reasonForJoseError(error: unknown): IdentityReason {
  if (error instanceof jose.JWTExpired) return error.claim === 'iat' ? 'token_too_old' : 'token_expired';
  if (error instanceof jose.JWTClaimValidationFailed) return reasonForClaim(error.claim, error.reason);
  if (error instanceof jose.JOSEAlgNotAllowed) return 'algorithm_not_allowed';
  if (error instanceof jose.JWSSignatureVerificationFailed) return 'bad_signature';
  if (error instanceof jose.JWKSNoMatchingKey || error instanceof jose.JWKSMultipleMatchingKeys) return 'unknown_key';
  if (error instanceof jose.JOSENotSupported) return 'header_not_allowed';
  return 'token_malformed';
}

function reasonForClaim(claim: string, reason: string): IdentityReason {
  if (reason === 'missing') return 'claim_missing';
  if (reason === 'invalid') return 'token_malformed';
  switch (claim) {
    case 'nbf':
      return 'token_not_yet_valid';
    case 'aud':
      return 'audience_mismatch';
    case 'iss':
      return 'issuer_mismatch';
    case 'typ':
      return 'typ_mismatch';
    case 'iat':
      return 'token_not_yet_valid';
    default:
      return 'claim_mismatch';
  }
}
