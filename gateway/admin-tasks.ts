import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunningGateway } from './app.js';
import { taskRef } from './domain.js';
import { EscrowError } from './errors.js';
import { sendJson } from './http/respond.js';
import { leaseView } from './leases/record.js';
import { AMBIENT_ID, isAmbient } from './tasks/ambient.js';
import { parseTask, principalHash, taskView } from './tasks/model.js';

const MAX_LIST = 1_000;

async function listTasks(gw: RunningGateway, url: URL) {
  const principal = url.searchParams.get('principal');
  const target = url.searchParams.get('target');
  const limit = Math.min(Number(url.searchParams.get('limit') ?? 100) || 100, MAX_LIST);
  const live = await gw.store.index.range(gw.now(), Number.POSITIVE_INFINITY, MAX_LIST);
  const tasks = [];
  for (const { taskId } of live) {
    const entry = await gw.store.tasks.read(taskId);
    // A tombstone closes a task; an ambient task's tombstone is only a fence for its next lease.
    if (entry === null || (entry.tombstone !== null && !isAmbient(taskId))) continue;
    const task = parseTask(entry.record);
    if (principal !== null && task.principal.id !== principal) continue;
    if (target !== null && !task.targets.includes(target)) continue;
    tasks.push(taskView(task));
    if (tasks.length >= limit) break;
  }
  return { tasks };
}

/**
 * Operators' view of tasks on the admin listener (ambient leases' tasks included, ids `amb_…`):
 * `GET /admin/tasks[?principal=&target=&limit=]`,
 * `GET /admin/tasks/<id>` (with its leases, never secret values), `DELETE /admin/tasks/<id>` (revoke now).
 * Returns false when the path is not one of these.
 */
export async function handleAdminTasks(
  gw: RunningGateway,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<boolean> {
  if (url.pathname === '/admin/tasks' && req.method === 'GET') {
    sendJson(res, 200, await listTasks(gw, url), 'admin');
    return true;
  }
  const match = /^\/admin\/tasks\/([^/]+)$/.exec(url.pathname);
  if (!match || (req.method !== 'GET' && req.method !== 'DELETE')) return false;
  const id = match[1]!;
  const ambient = AMBIENT_ID.test(id);
  if (req.method === 'GET') {
    const task = ambient ? ((await gw.tasks.find(id))?.task ?? null) : await gw.tasks.get(id);
    if (!task) throw new EscrowError('task_not_found', 'no such live task');
    const now = gw.now();
    const leases = (await gw.leases.list(task.id, task.targets)).map((l) => leaseView(l, now));
    sendJson(res, 200, { ...taskView(task), leases }, 'admin');
    return true;
  }
  // Closing is idempotent: a task already closed (or expired) but still remembered is closed again, to finish
  // whatever an earlier close left undone.
  const found = await gw.tasks.find(id);
  if (!found) throw new EscrowError('task_not_found', 'no such task');
  const { task } = found;
  const leases = await gw.revoker.revokeTask(task.id, 'admin', principalHash(task.principal));
  await gw.audit.commit({
    event: 'task.closed',
    reason: 'admin',
    principal: task.principal,
    task: { ...taskRef(task), intent: task.intent },
    leasesRevoked: leases,
  });
  gw.log.warn({ taskId: task.id, leases }, 'task closed by an operator');
  sendJson(res, 200, { id: task.id, leasesRevoked: leases }, 'admin');
  return true;
}
