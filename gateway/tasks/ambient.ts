import { createHash } from 'node:crypto';
import { type Principal, principalRef, type Task } from '../domain.js';
import { principalHash } from './model.js';

/** Ambient task ids: one per (principal, target) of a `requireTask: false` target. Never a valid X-Escrow-Task. */
export const AMBIENT_ID = /^amb_[A-Za-z0-9_-]{22}$/;

/** What operators see as the intent of an ambient lease's task. */
export const AMBIENT_INTENT = '(ambient: requireTask is false on this target)';

/** How long an ambient task outlives its lease, so that the sweeper revokes the lease after it expired. */
const AMBIENT_SLACK_MS = 60_000;

export function isAmbient(taskId: string): boolean {
  return taskId.startsWith('amb_');
}

export function ambientTaskId(principal: Principal, target: string): string {
  const digest = createHash('sha256')
    .update(`${principalHash(principal)}\n${target}`)
    .digest('base64url');
  return `amb_${digest.slice(0, 22)}`;
}

/**
 * The implicit task of a principal on a target with `requireTask: false`: scoped to that principal and that
 * target, living as long as the credential's ttl plus a minute from each use (renewed on use). It is stored and
 * indexed like a task when its lease is issued (gateway/leases/service.ts), so every kill-switch form, the
 * sweeper and the admin listings see it.
 */
export function ambientTask(principal: Principal, target: string, ttlSeconds: number, now: number): Task {
  return {
    id: ambientTaskId(principal, target),
    principal: principalRef(principal),
    intent: AMBIENT_INTENT,
    targets: [target],
    ancestors: [],
    depth: 0,
    openedAt: now,
    expiresAt: now + ttlSeconds * 1000 + AMBIENT_SLACK_MS,
  };
}
