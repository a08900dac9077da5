import { type ApprovalIndex, approvalIndex, type TracedApproval } from './approvals.js';
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
  /** The `openTask` decision(s) and policies that let the task be opened. */
  readonly openDecisionId?: string;
  readonly openPolicies?: readonly string[];
}

export interface TracedRequest {
  readonly time?: string;
  readonly requestId?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly decision?: string;
  readonly decisionId?: string;
  /** The person who approved this very request, when it waited for one. */
  readonly approval?: TracedApproval;
}

/** One lease that carried the secret: who got it, for what, on whose authority, and what was done with it. */
export interface TracedLease {
  readonly leaseId: string;
  readonly target?: string;
  readonly adapter?: string;
  readonly principal?: TracedPrincipal;
  readonly task?: TracedTask;
  /** The decision that led to the grant, and its determining policies (from any event with that decision). */
  readonly decisionId?: string;
  readonly policies: readonly string[];
  /** `lease.issued`, or `lease.renewed` when the secret came with a renewal. */
  readonly grantedBy: 'lease.issued' | 'lease.renewed';
  readonly issuedAt?: string;
  readonly expiresAt?: string;
  /** The lease this one renewed (`previousLeaseId`). */
  readonly renews?: string;
  /** When the lease was renewed (in place, or replaced by a new lease). */
  readonly renewedAt: string[];
  revoked?: { readonly time?: string; readonly reason?: string };
  readonly requests: TracedRequest[];
  /** The person who approved the task, when it waited for one. */
  readonly approval?: TracedApproval;
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
    openDecisionId: stringField(record, 'decisionId'),
    openPolicies: stringsField(record, 'policies'),
  };
}

interface TraceIndex {
  readonly tasks: ReadonlyMap<string, TracedTask>;
  readonly policies: ReadonlyMap<string, readonly string[]>;
  readonly approvals: ApprovalIndex;
}

function newLease(record: AuditRecord, index: TraceIndex): TracedLease {
  const taskId = taskIdOf(record);
  const fromEvent = objectField(record, 'task');
  const task =
    (taskId !== undefined ? index.tasks.get(taskId) : undefined) ??
    (taskId !== undefined && fromEvent ? openedTask({ task: fromEvent }, taskId) : undefined);
  const decisionId = stringField(record, 'decisionId');
  const approval = taskId !== undefined ? index.approvals.byTask.get(taskId) : undefined;
  return {
    ...(approval ? { approval } : {}),
    leaseId: leaseKey(record),
    target: stringField(record, 'target'),
    adapter: stringField(record, 'adapter'),
    principal: principalOf(record) ?? task?.openedBy,
    task,
    decisionId,
    policies:
      stringsField(record, 'policies') ?? (decisionId !== undefined ? index.policies.get(decisionId) : undefined) ?? [],
    grantedBy: record.event === 'lease.renewed' ? 'lease.renewed' : 'lease.issued',
    issuedAt: stringField(record, 'time'),
    expiresAt: stringField(record, 'expiresAt'),
    renews: stringField(record, 'previousLeaseId'),
    renewedAt: [],
    requests: [],
  };
}

function requestOf(record: AuditRecord, approvals: ApprovalIndex): TracedRequest {
  const status = record.status;
  const approval = approvals.byId.get(stringField(record, 'approvalId') ?? '');
  return {
    ...(approval ? { approval } : {}),
    time: stringField(record, 'time'),
    requestId: stringField(record, 'requestId'),
    method: stringField(record, 'method'),
    path: stringField(record, 'path'),
    status: typeof status === 'number' ? status : undefined,
    decision: stringField(record, 'decision'),
    decisionId: stringField(record, 'decisionId'),
  };
}

function buildIndex(records: readonly AuditRecord[]): TraceIndex {
  const tasks = new Map<string, TracedTask>();
  const policies = new Map<string, readonly string[]>();
  for (const record of records) {
    const id = taskIdOf(record);
    if (record.event === 'task.opened' && id !== undefined && !tasks.has(id)) tasks.set(id, openedTask(record, id));
    const decisionId = stringField(record, 'decisionId');
    const determining = stringsField(record, 'policies');
    if (decisionId !== undefined && determining && determining.length > 0) policies.set(decisionId, determining);
  }
  return { tasks, policies, approvals: approvalIndex(records) };
}

const GRANTS = new Set(['lease.issued', 'lease.renewed']);

/** The grant events that carried the fingerprint, one per lease; `lease.issued` wins over a renewal in place. */
function grantsOf(records: readonly AuditRecord[], fingerprint: string): Map<string, AuditRecord> {
  const grants = new Map<string, AuditRecord>();
  for (const record of records) {
    if (!GRANTS.has(String(record.event)) || record.secretFingerprint !== fingerprint) continue;
    const key = leaseKey(record);
    if (!grants.has(key) || record.event === 'lease.issued') grants.set(key, record);
  }
  return grants;
}

/** Adds one later event to the lease it concerns. */
function attach(
  leases: ReadonlyMap<string, TracedLease>,
  grants: ReadonlyMap<string, AuditRecord>,
  record: AuditRecord,
  approvals: ApprovalIndex,
): void {
  const time = stringField(record, 'time');
  const key = leaseKey(record);
  const lease = leases.get(key);
  if (record.event === 'lease.renewed') {
    // A renewal that is itself this lease's grant renews only the lease it replaced.
    const inPlace = grants.get(key) === record ? undefined : lease;
    const renewed = inPlace ?? leases.get(stringField(record, 'previousLeaseId') ?? '');
    if (renewed && time !== undefined) renewed.renewedAt.push(time);
  } else if (record.event === 'lease.revoked' && lease) {
    lease.revoked = { time, reason: stringField(record, 'reason') };
  } else if (record.event === 'request' && lease) {
    lease.requests.push(requestOf(record, approvals));
  }
}

/**
 * Who was given the secret with this fingerprint: every lease whose `lease.issued`/`lease.renewed` event
 * carries it, with the task (from `task.opened`), the deciding policies, renewals, the revocation, every
 * request made under the lease (matched by `leaseId`), and the people who approved the task or a request. Lines that are not audit events are skipped; the
 * input may interleave several writers and need not be in time order.
 */
export function traceSecret(lines: readonly string[], fingerprint: string): SecretTrace {
  const records = lines.flatMap((line): AuditRecord[] => {
    const record = parseLine(line);
    return record ? [record] : [];
  });
  const index = buildIndex(records);
  const grants = grantsOf(records, fingerprint);
  const leases = new Map<string, TracedLease>();
  for (const [key, record] of grants) leases.set(key, newLease(record, index));
  for (const record of records) attach(leases, grants, record, index.approvals);
  return { fingerprint, leases: [...leases.values()] };
}
