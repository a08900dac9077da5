import { type AuditRecord, objectField, stringField } from './parse.js';

/** Who decided an approval (gateway/approvals/), as the trail shows it: for `escrow audit trace`. */
export interface TracedApproval {
  readonly approvalId: string;
  /** `task` (the task's opening) or `request` (one request). */
  readonly kind?: string;
  readonly by?: { readonly type?: string; readonly id?: string; readonly issuer?: string };
  readonly time?: string;
  readonly comment?: string;
  /** Cedar's `approve` decision that let the person decide. */
  readonly decisionId?: string;
}

export interface ApprovalIndex {
  readonly byId: ReadonlyMap<string, TracedApproval>;
  /** The granted approval of each task that waited for a person, by task id. */
  readonly byTask: ReadonlyMap<string, TracedApproval>;
}

/**
 * Every `approval.granted` event of the trail, by approval id and (for a task's own approval) by task id. The last
 * one wins: a decision is audited before it is written, so a person whose write never took effect (the store
 * failed) may be followed by the one whose did.
 */
export function approvalIndex(records: readonly AuditRecord[]): ApprovalIndex {
  const byId = new Map<string, TracedApproval>();
  const byTask = new Map<string, TracedApproval>();
  for (const record of records) {
    if (record.event !== 'approval.granted') continue;
    const approvalId = stringField(record, 'approvalId');
    if (approvalId === undefined) continue;
    const by = objectField(record, 'principal');
    const approval: TracedApproval = {
      approvalId,
      kind: stringField(record, 'kind'),
      by: by
        ? { type: stringField(by, 'type'), id: stringField(by, 'id'), issuer: stringField(by, 'issuer') }
        : undefined,
      time: stringField(record, 'time'),
      comment: stringField(record, 'comment'),
      decisionId: stringField(record, 'decisionId'),
    };
    byId.set(approvalId, approval);
    const task = objectField(record, 'task');
    const taskId = task ? stringField(task, 'id') : undefined;
    if (approval.kind === 'task' && taskId !== undefined) byTask.set(taskId, approval);
  }
  return { byId, byTask };
}

/** `approved by Human alice@example.org (issuer corp) at … (apr_…): "comment"` */
export function describeApproval(a: TracedApproval): string {
  const by = a.by ? `${a.by.type ?? '?'} ${a.by.id ?? '?'} (issuer ${a.by.issuer ?? '?'})` : 'unknown';
  const comment = a.comment === undefined ? '' : `: ${JSON.stringify(a.comment)}`;
  return `approved by ${by} at ${a.time ?? '?'} (${a.approvalId}, decision ${a.decisionId ?? '?'})${comment}`;
}
