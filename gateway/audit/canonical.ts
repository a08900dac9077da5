import { createHash, createHmac } from 'node:crypto';

/** A JSON value as it comes out of `JSON.parse`. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/**
 * Canonical JSON: object keys sorted (by UTF-16 code unit), no whitespace, `undefined` members left out.
 * The chain hash is computed over this form, so the order in which a sink writes the keys does not matter.
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item: Json) => canonicalJson(item)).join(',')}]`;
  const record = value as { readonly [key: string]: Json };
  const members = Object.keys(record)
    .sort()
    .filter((key) => record[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key] as Json)}`);
  return `{${members.join(',')}}`;
}

/** SHA-256 (hex) of the canonical JSON of `event`, without its own `hash` member. */
export function eventHash(event: { readonly [key: string]: Json }): string {
  const { hash: _ignored, ...rest } = event;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/**
 * The fingerprint of a secret: HMAC-SHA256 (hex) under the deployment's audit key. Keyed, so that a
 * low-entropy secret cannot be recovered from the audit trail by hashing guesses without the key, and
 * the same secret gives different fingerprints in different deployments (Vault's audit-hash idea).
 */
export function hashSecret(secret: string, key: string): string {
  return createHmac('sha256', key).update(secret).digest('hex');
}

/** The `prev` of a writer's first event. */
export const GENESIS = '0'.repeat(64);

const HEX64 = /^[0-9a-f]{64}$/i;

/** True when `value` has the shape of a fingerprint or hash (64 hex digits). */
export function isHex64(value: string): boolean {
  return HEX64.test(value);
}
