import { type AuditRecord, objectField, parseLine, stringField, stringsField } from './parse.js';

export interface TracedPrincipal {
  readonly type?: string;
  readonly id?: string;
  readonly issuer?: string;
}

export interface TracedTask {
  readonly id: string;
  /** The task and its ancestors, root first. */
  readonly chain: readonly string[];
  readonly intent?: string;
  readonly openedAt?: string;
  readonly openedBy?: TracedPrincipal;
}

export interface TracedRequest {
  readonly time?: string;
  readonly requestId?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly decision?: string;
  readonly decisionId?: string;
}

/** One lease that carried the secret: who got it, for what, on whose authority, and what was done with it. */
export interface TracedLease {
  readonly leaseId: string;
  readonly target?: string;
  readonly principal?: TracedPrincipal;
  readonly task?: TracedTask;
  readonly decisionId?: string;
  readonly policies: readonly string[];
  readonly issuedAt?: string;
  readonly renewedAt: string[];
  revoked?: { readonly time?: string; readonly reason?: string };
  readonly requests: TracedRequest[];
}

export interface SecretTrace {
  readonly fingerprint: string;
  readonly leases: readonly TracedLease[];
}

function principalOf(record: AuditRecord): TracedPrincipal | undefined {
  const principal = objectField(record, 'principal');
  if (!principal) return undefined;
  return {
    type: stringField(principal, 'type'),
    id: stringField(principal, 'id'),
    issuer: stringField(principal, 'issuer'),
  };
}

function taskIdOf(record: AuditRecord): string | undefined {
  const task = objectField(record, 'task');
  return task ? stringField(task, 'id') : undefined;
}

function leaseKey(record: AuditRecord): string {
  return stringField(record, 'leaseId') ?? `${taskIdOf(record) ?? '?'}/${stringField(record, 'target') ?? '?'}`;
}

function openedTask(record: AuditRecord, id: string): TracedTask {
  const task = objectField(record, 'task');
  return {
    id,
    chain: (task && stringsField(task, 'chain')) ?? [id],
    intent: task ? stringField(task, 'intent') : undefined,
    openedAt: stringField(record, 'time'),
    openedBy: principalOf(record),
  };
}

function newLease(record: AuditRecord, tasks: ReadonlyMap<string, TracedTask>): TracedLease {
  const taskId = taskIdOf(record);
  const fromEvent = objectField(record, 'task');
  const task =
    (taskId !== undefined ? tasks.get(taskId) : undefined) ??
    (taskId !== undefined && fromEvent ? openedTask({ task: fromEvent }, taskId) : undefined);
  return {
    leaseId: leaseKey(record),
    target: stringField(record, 'target'),
    principal: principalOf(record) ?? task?.openedBy,
    task,
    decisionId: stringField(record, 'decisionId'),
    policies: stringsField(record, 'policies') ?? [],
    issuedAt: record.event === 'lease.issued' ? stringField(record, 'time') : undefined,
    renewedAt: [],
    requests: [],
  };
}

function requestOf(record: AuditRecord): TracedRequest {
  const status = record.status;
  return {
    time: stringField(record, 'time'),
    requestId: stringField(record, 'requestId'),
    method: stringField(record, 'method'),
    path: stringField(record, 'path'),
    status: typeof status === 'number' ? status : undefined,
    decision: stringField(record, 'decision'),
    decisionId: stringField(record, 'decisionId'),
  };
}

function tasksOpened(records: readonly AuditRecord[]): Map<string, TracedTask> {
  const tasks = new Map<string, TracedTask>();
  for (const record of records) {
    const id = taskIdOf(record);
    if (record.event === 'task.opened' && id !== undefined && !tasks.has(id)) tasks.set(id, openedTask(record, id));
  }
  return tasks;
}

const LEASE_GRANTS = new Set(['lease.issued', 'lease.renewed']);

/** Adds one event to the lease it belongs to. */
function attach(lease: TracedLease, record: AuditRecord): void {
  const time = stringField(record, 'time');
  if (record.event === 'lease.renewed' && time !== undefined) lease.renewedAt.push(time);
  if (record.event === 'lease.revoked') lease.revoked = { time, reason: stringField(record, 'reason') };
  if (record.event === 'request') lease.requests.push(requestOf(record));
}

/**
 * Who was given the secret with this fingerprint: every lease whose `lease.issued`/`lease.renewed` event
 * carries it, with the task (from `task.opened`), the deciding policies, the revocation, and every request
 * made under the lease (matched by `leaseId`). Lines that are not audit events are skipped; the input may
 * interleave several writers and need not be in time order.
 */
export function traceSecret(lines: readonly string[], fingerprint: string): SecretTrace {
  const records = lines.flatMap((line): AuditRecord[] => {
    const record = parseLine(line);
    return record ? [record] : [];
  });
  const tasks = tasksOpened(records);
  const leases = new Map<string, TracedLease>();
  for (const record of records) {
    if (!LEASE_GRANTS.has(String(record.event)) || record.secretFingerprint !== fingerprint) continue;
    const key = leaseKey(record);
    // Prefer the `lease.issued` event: it carries the decision that granted the lease.
    if (!leases.get(key)?.issuedAt) leases.set(key, newLease(record, tasks));
  }
  for (const record of records) {
    if (record.event === 'lease.issued') continue;
    const lease = leases.get(leaseKey(record));
    if (lease) attach(lease, record);
  }
  return { fingerprint, leases: [...leases.values()] };
}

export { hashSecret } from './canonical.js';
export { formatTrace, type TraceFormat } from './format.js';
