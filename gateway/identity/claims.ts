import type { ClaimValue } from '../domain.js';
import { identityError } from './reasons.js';

/**
 * Standard claims always copied to the principal's tags when they have a tag-able value. None of them is a
 * credential: `iss`/`aud` say who minted the token for whom, `azp`/`client_id` name the OAuth client, `scope`
 * is what it was granted, `jti` identifies the token for the audit trail.
 */
export const STANDARD_CLAIM_TAGS = ['iss', 'aud', 'azp', 'client_id', 'scope', 'jti'] as const;

/**
 * Find a claim by a dotted path. Claim names may themselves contain dots (`kubernetes.io`), so at each level
 * the longest name that exists wins: `kubernetes.io.namespace` reads `payload["kubernetes.io"].namespace`.
 */
export function claimAt(payload: Readonly<Record<string, unknown>>, path: string): unknown {
  return lookup(payload, path.split('.'));
}

function lookup(value: unknown, segments: readonly string[]): unknown {
  if (segments.length === 0) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  for (let take = segments.length; take >= 1; take -= 1) {
    const name = segments.slice(0, take).join('.');
    if (Object.hasOwn(record, name)) return lookup(record[name], segments.slice(take));
  }
  return undefined;
}

/** A claim as a Cedar tag value, or undefined when it has no such form (objects, mixed arrays, null). */
export function asTagValue(value: unknown): ClaimValue | undefined {
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return Object.freeze([...value]);
  return undefined;
}

/** The principal's claims: the standard ones above, then the issuer's `claimTags` (which win on a clash). */
export function principalClaims(
  payload: Readonly<Record<string, unknown>>,
  claimTags: Readonly<Record<string, string>>,
): Readonly<Record<string, ClaimValue>> {
  const claims = new Map<string, ClaimValue>();
  for (const name of STANDARD_CLAIM_TAGS) {
    const value = asTagValue(payload[name]);
    if (value !== undefined) claims.set(name, value);
  }
  for (const [tag, path] of Object.entries(claimTags)) {
    const value = asTagValue(claimAt(payload, path));
    if (value !== undefined) claims.set(tag, value);
  }
  // fromEntries defines own properties: a tag named `__proto__` cannot reach the prototype.
  return Object.freeze(Object.fromEntries(claims));
}

/**
 * Enforce `requiredClaims`: each path must exist and equal the configured value; when the claim is an array
 * of strings, it must contain the value (e.g. a `groups` claim).
 */
export function checkRequiredClaims(
  payload: Readonly<Record<string, unknown>>,
  required: Readonly<Record<string, string | number | boolean>>,
): void {
  for (const [path, expected] of Object.entries(required)) {
    const actual = claimAt(payload, path);
    if (actual === undefined) throw identityError('claim_missing');
    const matches = Array.isArray(actual) ? actual.includes(expected) : actual === expected;
    if (!matches) throw identityError('claim_mismatch');
  }
}
