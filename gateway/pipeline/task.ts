import type { IncomingMessage } from 'node:http';
import type { Principal, Soon, Task } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { headerValues } from '../http/raw-headers.js';
import type { TargetRuntime } from '../targets.js';
import { ambientTask as ambientTaskFor } from '../tasks/ambient.js';

/** Stage 3: the task named in `X-Escrow-Task`, which must belong to this principal and list this target. */
export function taskFor(
  gw: Gateway,
  req: IncomingMessage,
  principal: Principal,
  target: TargetRuntime,
): Soon<Task | undefined> {
  const values = headerValues(req.rawHeaders, 'x-escrow-task');
  if (values.length === 0) {
    if (target.config.requireTask) throw new EscrowError('task_required', 'this target needs an X-Escrow-Task header');
    return undefined;
  }
  if (values.length > 1) throw new EscrowError('bad_request', 'exactly one X-Escrow-Task header is allowed');
  const id = values[0]!.trim();
  // A task in the cache is a map lookup, answered at once.
  return (
    gw.tasks.cachedForRequest(id, principal, target.config.name) ??
    gw.tasks.forRequest(id, principal, target.config.name)
  );
}

/**
 * Targets with `requireTask: false` still get leases scoped to one principal and one target: an implicit task
 * per (principal, target) whose life is the credential's ttl (renewed on use). Meant for static secrets only.
 */
export function ambientTask(gw: Gateway, principal: Principal, target: TargetRuntime): Task {
  return ambientTaskFor(principal, target.config.name, target.config.credential.ttl, gw.now());
}
