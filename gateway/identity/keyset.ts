import { createLocalJWKSet, type JSONWebKeySet, type JWK } from 'jose';

/** A parsed JWK Set, filtered to the keys a workload token may be signed with. */
export interface KeySet {
  readonly resolve: ReturnType<typeof createLocalJWKSet>;
  readonly size: number;
  /** SPIFFE bundles say how often to re-read them (`spiffe_refresh_hint`, seconds). */
  readonly refreshHintSeconds?: number;
}

/** `use` values that mark a signature key: plain JWKS (`sig`) and SPIFFE bundles (`jwt-svid`). */
const SIGNING_USES = new Set([undefined, 'sig', 'jwt-svid']);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;

/**
 * Build a key set from a JWK Set document (plain JWKS or SPIFFE trust bundle). Keys marked for another use
 * (`enc`, `x509-svid`) and symmetric keys are dropped: an HMAC key would let anyone holding it mint tokens.
 * jose's local set refuses `use: "jwt-svid"`, so `use` is removed once the key has passed this filter.
 */
export function parseKeySet(document: unknown): KeySet {
  if (typeof document !== 'object' || document === null || !Array.isArray((document as JSONWebKeySet).keys)) {
    throw new Error('not a JWK Set');
  }
  const keys: JWK[] = [];
  for (const key of (document as JSONWebKeySet).keys) {
    const usable = signingKey(key);
    if (usable) keys.push(usable);
  }
  const hint = (document as { spiffe_refresh_hint?: unknown }).spiffe_refresh_hint;
  const set: KeySet = { resolve: createLocalJWKSet({ keys }), size: keys.length };
  return typeof hint === 'number' && Number.isFinite(hint) && hint > 0 ? { ...set, refreshHintSeconds: hint } : set;
}

function signingKey(key: unknown): JWK | undefined {
  if (typeof key !== 'object' || key === null) return undefined;
  const jwk = key as JWK;
  if (typeof jwk.kty !== 'string' || jwk.kty === 'oct') return undefined;
  if (!SIGNING_USES.has(jwk.use)) return undefined;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return undefined;
  const copy: Record<string, unknown> = { ...jwk };
  delete copy.use;
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  return copy as JWK;
}
