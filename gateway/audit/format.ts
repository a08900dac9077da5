import { describeApproval } from './approvals.js';
import type { SecretTrace, TracedLease, TracedPrincipal, TracedRequest, TracedTask } from './trace.js';

export type TraceFormat = 'text' | 'json';

function who(principal: TracedPrincipal | undefined): string {
  if (!principal) return 'unknown';
  return `${principal.type ?? '?'} ${principal.id ?? '?'} (issuer ${principal.issuer ?? '?'})`;
}

function request(entry: TracedRequest): string {
  const outcome = [entry.decision, entry.decisionId].filter(Boolean).join(', ');
  const status = entry.status === undefined ? '' : ` → ${entry.status}`;
  const id = entry.requestId === undefined ? '' : ` [${entry.requestId}]`;
  const line = `    ${entry.time ?? '?'} ${entry.method ?? '?'} ${entry.path ?? '?'}${status} (${outcome || 'no decision'})${id}`;
  return entry.approval ? `${line}\n      ${describeApproval(entry.approval)}` : line;
}

function opening(task: TracedTask): string {
  const policies = task.openPolicies?.length ? ` by ${task.openPolicies.join(', ')}` : '';
  return task.openDecisionId ? ` (decision ${task.openDecisionId}${policies})` : '';
}

function lease(entry: TracedLease): string[] {
  const task = entry.task;
  const lines = [
    `Lease ${entry.leaseId} on target ${entry.target ?? '?'}`,
    `  given to   ${who(entry.principal)}`,
    task
      ? `  task       ${task.id} ${JSON.stringify(task.intent ?? '')} (chain ${task.chain.join(' > ')})`
      : '  task       unknown',
    ...(task?.openedAt ? [`  opened     ${task.openedAt}${opening(task)}`] : []),
    ...(entry.approval ? [`  approved   task ${describeApproval(entry.approval).replace(/^approved /, '')}`] : []),
    `  decision   ${entry.decisionId ?? '?'} by ${entry.policies.length > 0 ? entry.policies.join(', ') : 'no recorded policy'}`,
    `  ${entry.grantedBy === 'lease.renewed' ? 'renewal  ' : 'issued   '}  ${entry.issuedAt ?? '?'}${entry.renews ? ` (renews ${entry.renews})` : ''}`,
  ];
  if (entry.expiresAt) lines.push(`  expires    ${entry.expiresAt}`);
  for (const time of entry.renewedAt) lines.push(`  renewed    ${time}`);
  const revoked = entry.revoked;
  lines.push(
    `  revoked    ${revoked ? `${revoked.time ?? '?'}${revoked.reason ? ` (${revoked.reason})` : ''}` : 'not in this trail'}`,
  );
  lines.push(`  requests   ${entry.requests.length}`);
  lines.push(...entry.requests.map(request));
  return lines;
}

/** The trace for a person (`text`) or a program (`json`, one object). */
export function formatTrace(trace: SecretTrace, format: TraceFormat = 'text'): string {
  if (format === 'json') return JSON.stringify(trace, null, 2);
  if (trace.leases.length === 0) {
    return `No lease in this audit trail was given the secret with fingerprint ${trace.fingerprint}.`;
  }
  const header = `Secret fingerprint ${trace.fingerprint}: ${trace.leases.length} lease(s)`;
  return [header, ...trace.leases.flatMap((entry) => ['', ...lease(entry)])].join('\n');
}
