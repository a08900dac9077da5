import type { PrincipalRef, TaskRef } from '../domain.js';

export type AuditEventName =
  | 'task.opened'
  | 'task.closed'
  | 'request'
  | 'mcp.call'
  | 'lease.issued'
  | 'lease.renewed'
  | 'lease.revoked'
  | 'identity.rejected'
  | 'connection.opened'
  | 'connection.refused'
  | 'connection.closed'
  | 'policy.reloaded'
  | 'policy.shadow_mismatch'
  | 'denials.aggregated'
  | 'config.reloaded'
  | 'admin.revoked'
  | 'approval.requested'
  | 'approval.granted'
  | 'approval.denied'
  | 'approval.expired'
  | 'approval.cancelled'
  | 'approval.refused';

/** What a stage hands to the audit log. Never a secret, never a token. */
export interface AuditEventInput {
  readonly event: AuditEventName;
  readonly requestId?: string;
  readonly decisionId?: string;
  readonly decision?: 'allow' | 'deny';
  readonly policies?: readonly string[];
  readonly principal?: PrincipalRef;
  /** The task and its ancestors, root first. */
  readonly task?: TaskRef & { readonly intent?: string };
  readonly target?: string;
  readonly leaseId?: string;
  /** HMAC-SHA256 of the secret under the audit key (`AuditLog.fingerprint`). */
  readonly secretFingerprint?: string;
  readonly status?: number;
  readonly reason?: string;
  readonly method?: string;
  readonly path?: string;
  readonly traceparent?: string;
  /** The caller's IP address (the TCP peer). */
  readonly client?: string;
  readonly [extra: string]: unknown;
}

/** `closed`: refuse new leases while a sink is failing (Vault's behaviour); `open`: keep issuing. */
export type AuditFailMode = 'closed' | 'open';

export interface AuditLog {
  /**
   * Queue one event; never blocks. Adds `time` (now), writer id, sequence and chain hash. The event is serialised
   * in the next batch: do not mutate it after recording it.
   */
  record(event: AuditEventInput): void;
  /**
   * Record one event and resolve once every sink has written its batch (group commit: every event recorded in the
   * same turn of the event loop shares one write per sink). Under `failMode: closed` rejects with
   * `audit_unavailable` when a sink fails or has not written within the commit timeout: the answer that waits
   * for it must then not be given. Under `open` it never rejects. A repeated denial that is only counted
   * (`denials.aggregated`) resolves at once.
   */
  commit(event: AuditEventInput): Promise<void>;
  /** HMAC-SHA256 (hex) of a secret under the deployment's audit key. */
  fingerprint(secret: string): string;
  /** False while a required sink is failing (lease issuance must then be refused unless failMode=open). */
  readonly healthy: boolean;
  /** How the pipeline must treat `healthy=false` (absent: `closed`). See `auditState` (fail-mode.ts). */
  readonly failMode?: AuditFailMode;
  /** Resolves once every queued event is written (or has failed). */
  flush(): Promise<void>;
  /** Ends the current aggregation window, writes everything queued, and stops. */
  close(): Promise<void>;
}

/**
 * Where audit lines go. `write` gets one consecutive run of the writer's chain (`lines[i]` has seq `firstSeq + i`)
 * and resolves once every line is accepted; it rejects if any was not. A sink writes a batch whole or not at all
 * as far as readers can tell (see each sink), so a retry never duplicates or reorders what was written.
 */
export interface AuditSink {
  /** Bounded label for metrics and health: `stdout`, `stderr`, `file` or `redis` (never a path). */
  readonly name: 'stdout' | 'stderr' | 'file' | 'redis';
  write(lines: readonly string[], firstSeq: number): Promise<void>;
  /** Let go of what the sink holds open (the file sink's handle), once its queue is flushed. */
  close?(): Promise<void>;
}
