import type { Credential } from '../../adapters/types.js';

/** What a lease holds (encrypted at rest). `credential.fields` are the secret values. */
export interface LeaseRecord {
  readonly id: string;
  readonly taskId: string;
  readonly target: string;
  readonly adapter: string;
  readonly credential: Credential;
  /** Epoch milliseconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** HMAC-SHA256 of the primary secret under the audit key. */
  readonly fingerprint: string;
  readonly decisionId: string;
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
