import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { PrincipalRef, Task } from '../domain.js';

export const TASK_ID = /^tsk_[A-Za-z0-9_-]{22}$/;

export function newTaskId(): string {
  return `tsk_${randomBytes(16).toString('base64url')}`;
}

/** A short stable hash of a principal, for index keys (never the raw workload id in a key name). */
export function principalHash(p: PrincipalRef): string {
  return createHash('sha256').update(`${p.type}\n${p.issuer}\n${p.id}`).digest('hex').slice(0, 24);
}

/** `POST /_escrow/tasks` body. Unknown fields are errors. */
export function openTaskBody(maxIntentLength: number, maxTtlSeconds: number) {
  return z.strictObject({
    intent: z.string().trim().min(1).max(maxIntentLength),
    targets: z
      .array(z.string().min(1).max(63))
      .min(1)
      .max(64)
      .refine((t) => new Set(t).size === t.length, 'must not repeat a target'),
    ttlSeconds: z.number().int().positive().max(maxTtlSeconds).optional(),
    parent: z.string().regex(TASK_ID, 'must be a task id').optional(),
  });
}

export type OpenTaskBody = z.output<ReturnType<typeof openTaskBody>>;

export function serializeTask(task: Task): string {
  return JSON.stringify(task);
}

export function parseTask(text: string): Task {
  return JSON.parse(text) as Task;
}

/** The public view of a task (GET /_escrow/tasks/<id>). */
export function taskView(task: Task) {
  return {
    id: task.id,
    intent: task.intent,
    targets: task.targets,
    parent: task.parent ?? null,
    depth: task.depth,
    principal: { type: task.principal.type, id: task.principal.id, issuer: task.principal.issuer },
    openedAt: new Date(task.openedAt).toISOString(),
    expiresAt: new Date(task.expiresAt).toISOString(),
  };
}
