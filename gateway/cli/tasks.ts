import { parseArgs } from 'node:util';
import { ADMIN_OPTIONS, adminAccess, callAdmin } from './admin-client.js';
import { printer, UsageError } from './common.js';

export const tasksHelp = `escrow tasks list [--principal ID] [--target NAME] [--limit N] [--json]
escrow tasks show <taskId> [--json]
escrow tasks close <taskId> [--json]
  each with [--admin URL] [--token-file FILE] [--cert FILE --key FILE] [--ca FILE] [--config FILE]

Operators' view of live tasks (ambient leases' tasks included: ids amb_…), through the admin API of a running
Escrow, with the admin credential (see escrow revoke --help for where the address and credential come from).
show lists the task's leases and their state, never secret values; close revokes its leases (and its steps')
now, on every replica.`;

interface TaskView {
  id: string;
  intent: string;
  targets: string[];
  principal: { type: string; id: string };
  expiresAt: string;
  parent: string | null;
  leases?: { id: string; target: string; state: string; expiresAt: string; secretFingerprint: string }[];
}

const line = (t: TaskView) =>
  `${t.id}  ${t.principal.type} ${t.principal.id}  [${t.targets.join(', ')}]  until ${t.expiresAt}  "${t.intent}"`;

export async function tasksCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      principal: { type: 'string' },
      target: { type: 'string' },
      limit: { type: 'string' },
      ...ADMIN_OPTIONS,
      json: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const access = adminAccess(values);
  const print = printer(values.json);
  if (sub === 'list') {
    const query = new URLSearchParams();
    if (values.principal) query.set('principal', values.principal);
    if (values.target) query.set('target', values.target);
    if (values.limit) query.set('limit', values.limit);
    const body = (await callAdmin(`/admin/tasks?${query}`, 'GET', access)) as { tasks: TaskView[] };
    print(body, body.tasks.length ? body.tasks.map(line).join('\n') : '(no live tasks)');
    return 0;
  }
  const id = positionals[0];
  if ((sub !== 'show' && sub !== 'close') || !id) throw new UsageError('usage: escrow tasks list|show <id>|close <id>');
  if (sub === 'show') {
    const task = (await callAdmin(`/admin/tasks/${encodeURIComponent(id)}`, 'GET', access)) as TaskView;
    const leases = (task.leases ?? []).map(
      (l) =>
        `  lease ${l.id} on ${l.target}: ${l.state} until ${l.expiresAt} (fingerprint ${l.secretFingerprint.slice(0, 16)}…)`,
    );
    print(task, [line(task), ...(task.parent ? [`  step of ${task.parent}`] : []), ...leases].join('\n'));
    return 0;
  }
  const closed = (await callAdmin(`/admin/tasks/${encodeURIComponent(id)}`, 'DELETE', access)) as {
    leasesRevoked: number;
  };
  print(closed, `closed ${id}: ${closed.leasesRevoked} lease(s) revoked`);
  return 0;
}
