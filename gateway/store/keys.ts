/**
 * The Redis key layout (DESIGN.md). `{<taskId>}` is a Redis Cluster hash tag: every key of one task lands
 * in one slot, so the scripts that touch several of them (close, lease writes, taking leases) stay single-slot.
 */
export interface KeyLayout {
  task(id: string): string;
  /** The task's tombstone: written first when it is closed (gateway/leases/closing.ts). */
  taskClosed(id: string): string;
  taskLeases(id: string): string;
  /** Leases taken out of service and waiting for their upstream revocation, with who claimed them. */
  taskRevoking(id: string): string;
  taskChildren(id: string): string;
  lease(taskId: string, target: string): string;
  lock(name: string): string;
  principalTasks(principalHash: string): string;
  readonly tasks: string;
  /** The close outbox: closes that a replica started and another must finish if it cannot. */
  readonly closing: string;
  readonly revocations: string;
  readonly audit: string;
  /**
   * The audit stream's bookkeeping. The hash tag `{<prefix>audit}` puts these keys in the stream's own Cluster slot
   * (the stream's name has no tag, so its slot is that of its whole name), so one script can touch all four.
   */
  readonly auditWriters: string;
  readonly auditActive: string;
  readonly auditMeta: string;
}

export function keyLayout(prefix: string): KeyLayout {
  return {
    task: (id) => `${prefix}task:{${id}}`,
    taskClosed: (id) => `${prefix}task:{${id}}:closed`,
    taskLeases: (id) => `${prefix}task:{${id}}:leases`,
    taskRevoking: (id) => `${prefix}task:{${id}}:revoking`,
    taskChildren: (id) => `${prefix}task:{${id}}:children`,
    lease: (taskId, target) => `${prefix}lease:{${taskId}}:${target}`,
    lock: (name) => `${prefix}lock:${name}`,
    principalTasks: (hash) => `${prefix}principal:${hash}:tasks`,
    tasks: `${prefix}tasks`,
    closing: `${prefix}closing`,
    revocations: `${prefix}revocations`,
    audit: `${prefix}audit`,
    auditWriters: `${prefix}audit:{${prefix}audit}:writers`,
    auditActive: `${prefix}audit:{${prefix}audit}:active`,
    auditMeta: `${prefix}audit:{${prefix}audit}:meta`,
  };
}
