import type { Credential } from '../../adapters/types.js';
import { Secret } from '../secret.js';

/**
 * What a lease holds (encrypted at rest). The credential stays wrapped in memory (it prints `<redacted>` in a log,
 * an error or `JSON.stringify`); `leaseJson` and `parseLease` are the envelope's only way in and out.
 */
export interface LeaseRecord {
  readonly id: string;
  readonly taskId: string;
  readonly target: string;
  readonly adapter: string;
  readonly credential: Secret<Credential>;
  /** Epoch milliseconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** HMAC-SHA256 of the primary secret under the audit key. */
  readonly fingerprint: string;
  readonly decisionId: string;
}

/** A lease as its envelope's plaintext: the one place the whole credential is serialised (then encrypted). */
export function leaseJson(lease: LeaseRecord): string {
  return JSON.stringify({ ...lease, credential: lease.credential.reveal() });
}

/** The lease from its envelope's plaintext, the credential wrapped again. */
export function parseLease(json: string): LeaseRecord {
  const stored = JSON.parse(json) as Omit<LeaseRecord, 'credential'> & { credential: Credential };
  return { ...stored, credential: new Secret(stored.credential) };
}

/** The lease's own identity, used as AES-GCM additional data so an envelope cannot be moved to another key. */
export function leaseAad(taskId: string, target: string): string {
  return `lease:{${taskId}}:${target}`;
}

/** The lease as the task API shows it: state, never secret values. */
export function leaseView(lease: LeaseRecord, now: number) {
  return {
    id: lease.id,
    target: lease.target,
    adapter: lease.adapter,
    state: lease.expiresAt > now ? 'active' : 'expired',
    issuedAt: new Date(lease.issuedAt).toISOString(),
    expiresAt: new Date(lease.expiresAt).toISOString(),
    secretFingerprint: lease.fingerprint,
  };
}

/** The value the fingerprint is taken of: the first wire form (the raw secret as the upstream sees it). */
export function primarySecret(credential: Credential): string {
  return credential.wireForms[0] ?? Object.values(credential.fields)[0] ?? '';
}
