import { randomBytes } from 'node:crypto';
import type { Adapter, Credential } from '../../adapters/types.js';
import type { Principal, Task } from '../domain.js';
import { EscrowError } from '../errors.js';
import { Secret } from '../secret.js';
import { type LeaseRecord, primarySecret } from './record.js';

/** What one request needs from the lease stage. */
export interface LeaseRequest {
  readonly task: Task;
  readonly target: string;
  readonly adapter: Adapter;
  /** Cap from config (the credential's `ttl`), seconds. */
  readonly ttlSeconds: number;
  readonly principal: Principal;
  readonly decisionId: string;
  readonly requestId: string;
}

/**
 * Ask the adapter for a credential and wrap it as a lease. The credential lives no longer than the config's
 * `ttl`, the adapter's own answer, and the task.
 */
export async function issueLease(
  req: LeaseRequest,
  now: number,
  fingerprint: (secret: string) => string,
): Promise<LeaseRecord> {
  const taskLeft = Math.floor((req.task.expiresAt - now) / 1000);
  if (taskLeft < 1) throw new EscrowError('task_closed', 'the task is expiring');
  const leaseId = `lse_${randomBytes(12).toString('base64url')}`;
  const ttlSeconds = Math.min(req.ttlSeconds, taskLeft);
  // Adapters return plain strings (docs/adapters.md): the credential is wrapped here, as it leaves the adapter.
  let credential: Credential;
  try {
    credential = await req.adapter.issue({
      leaseId,
      taskId: req.task.id,
      target: req.target,
      principalId: req.principal.id,
      intent: req.task.intent,
      ttlSeconds,
    });
  } catch (cause) {
    if (cause instanceof EscrowError) throw cause;
    throw new EscrowError('credential_unavailable', 'the adapter could not issue a credential', { cause });
  }
  return {
    id: leaseId,
    taskId: req.task.id,
    target: req.target,
    adapter: req.adapter.kind,
    credential: new Secret(credential),
    issuedAt: now,
    expiresAt: now + Math.max(1, Math.min(credential.ttlSeconds, ttlSeconds)) * 1000,
    fingerprint: fingerprint(primarySecret(credential)),
    decisionId: req.decisionId,
  };
}

/**
 * Renew when less than this much of the lease is left: 20% of its life, at least 5 s, at most 60 s, and never
 * more than half its life (a 2 s credential is not renewed on every request).
 */
export function renewWindowMs(lease: LeaseRecord): number {
  const life = lease.expiresAt - lease.issuedAt;
  return Math.min(60_000, life / 2, Math.max(5_000, life * 0.2));
}
