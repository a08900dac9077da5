import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { EscrowError } from '../errors.js';
import type { EventStream } from '../store/types.js';
import { hashSecret } from './canonical.js';
import type { FileSync } from './file-sink.js';
import { GroupCommit } from './group-commit.js';
import { NoiseAggregator } from './noise.js';
import { createSinkQueue, type SinkQueue } from './queue.js';
import { createSealer } from './seal.js';
import { createSink } from './sinks.js';
import type { AuditEventInput, AuditFailMode, AuditLog } from './types.js';

export { GENESIS, hashSecret, isHex64 } from './canonical.js';
export { auditHash, auditTrace, auditVerify } from './cli.js';
export { type AuditState, auditState, requireAudit } from './fail-mode.js';
export { formatTrace } from './format.js';
export { looksLikeJwt } from './redact.js';
export { traceSecret } from './trace.js';
export type * from './types.js';
export { VERIFY_EXIT, verifyChain } from './verify.js';

export interface AuditLogOptions {
  /** The deployment's audit key (`keys.auditHmac`): fingerprints are HMAC-SHA256 under it. */
  readonly hmacKey: string;
  /** `stdout` | `stderr` | `file:PATH` | `redis` | `none` (alone). Every sink gets every event. */
  readonly sinks: readonly string[];
  /** The store's event stream, required by the `redis` sink. */
  readonly events?: EventStream;
  /** `closed`: no new leases while a sink fails, and `commit` rejects; `open`: carry on. */
  readonly failMode: AuditFailMode;
  /** Defaults to `hostname-pid-random`: one hash chain per process. */
  readonly writerId?: string;
  readonly now?: () => number;
  /** Called once per failed write attempt, with the sink's kind (`file`, `redis`, …), never a path. */
  readonly onSinkError?: (sink: string, error: Error) => void;
  /** Called when a failing sink's queue overflows and its oldest events are dropped. */
  readonly onDrop?: (sink: string, count: number) => void;
  /** Called for every field refused because it looked like a token. Default: a process warning. */
  readonly onRefusedField?: (field: string, event: string) => void;
  /** Relative `file:` paths resolve against this directory (the config file's). */
  readonly baseDir?: string;
  /** `file:` sinks: fdatasync each batch before it counts as written (`batch`), or not (`none`, the default). */
  readonly fileSync?: FileSync;
  /** Repeated identical denials are aggregated per window (gateway/audit/noise.ts). */
  readonly noise?: { readonly intervalMs: number; readonly maxKeys: number };
  readonly maxQueue?: number;
  readonly batchSize?: number;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  readonly writeTimeoutMs?: number;
  /** How long `commit` waits for every sink before it gives up (failMode closed: rejects). */
  readonly commitTimeoutMs?: number;
}

function defaultWriterId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

function warnRefused(field: string, event: string): void {
  process.emitWarning(`audit: dropped field "${field}" of a "${event}" event: it looks like a token`, 'EscrowAudit');
}

function createQueues(options: AuditLogOptions, writerId: string): SinkQueue[] {
  if (options.sinks.length === 0) throw new EscrowError('config_invalid', 'audit: at least one sink (or "none")');
  if (options.sinks.includes('none') && options.sinks.length > 1) {
    throw new EscrowError('config_invalid', 'audit: sink "none" cannot be combined with other sinks');
  }
  const context = { events: options.events, baseDir: options.baseDir, writerId, fileSync: options.fileSync ?? 'none' };
  const maxQueue = Math.max(options.maxQueue ?? 10_000, 1);
  const batchSize = Math.min(options.batchSize ?? 256, maxQueue);
  return options.sinks.flatMap((spec) => {
    const sink = createSink(spec, context);
    if (!sink) return [];
    return [
      createSinkQueue(sink, {
        maxQueue,
        batchSize,
        retryInitialMs: options.retryInitialMs ?? 100,
        retryMaxMs: options.retryMaxMs ?? 5_000,
        writeTimeoutMs: options.writeTimeoutMs ?? 2_000,
        onError: options.onSinkError ?? (() => {}),
        onDrop: options.onDrop ?? (() => {}),
      }),
    ];
  });
}

const RESOLVED = Promise.resolve();

/**
 * The audit log. Events recorded in one turn of the event loop form a group: sealed into the writer's hash chain
 * together on the next turn (`setImmediate`) and handed to every sink as one run, which each sink writes in one
 * step (one file append, one Redis script). `commit` waits for that group's acknowledgement (group commit), so an
 * answer that needs its event written costs a share of one write, not one write. A failing sink keeps its events
 * (bounded) and retries with backoff; the log reports `healthy=false` until every sink writes again.
 */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  if (options.hmacKey.length < 16) throw new EscrowError('config_invalid', 'audit: hmacKey must be at least 16 bytes');
  const writerId = options.writerId ?? defaultWriterId();
  const queues = createQueues(options, writerId);
  const now = options.now ?? Date.now;
  const failMode = options.failMode;
  const commitTimeoutMs = options.commitTimeoutMs ?? options.writeTimeoutMs ?? 2_000;
  const sealer = createSealer({ writerId, onRefusedField: options.onRefusedField ?? warnRefused });
  let unsealed: { readonly event: AuditEventInput; readonly at: number }[] = [];
  let group: GroupCommit | undefined;
  let scheduled: NodeJS.Immediate | undefined;
  const sealAll = (): void => {
    clearImmediate(scheduled);
    scheduled = undefined;
    const [events, commit] = [unsealed, group];
    unsealed = [];
    group = undefined;
    if (events.length === 0) return;
    const lines = events.map(({ event, at }) => sealer.seal(event, at));
    for (const queue of queues) queue.push(lines, commit?.written);
    commit?.start(queues.length, commitTimeoutMs);
  };
  const enqueue = (event: AuditEventInput): void => {
    unsealed.push({ event, at: now() });
    scheduled ??= setImmediate(sealAll);
  };
  const noise = options.noise ? new NoiseAggregator({ ...options.noise, now }, enqueue) : undefined;
  const flush = async (): Promise<void> => {
    sealAll();
    await Promise.all(queues.map((queue) => queue.flush()));
  };
  const healthy = (): boolean => queues.every((queue) => queue.healthy);
  return {
    failMode,
    record(event) {
      if (noise?.absorb(event)) return;
      enqueue(event);
    },
    commit(event) {
      if (noise?.absorb(event)) return RESOLVED;
      enqueue(event);
      // Open: an answer never waits on a sink that is already known to fail.
      if (failMode === 'open' && !healthy()) return RESOLVED;
      group ??= new GroupCommit(failMode);
      return group.promise;
    },
    fingerprint: (secret: string) => hashSecret(secret, options.hmacKey),
    get healthy() {
      return healthy();
    },
    flush,
    async close() {
      noise?.close();
      await flush();
      for (const queue of queues) queue.close();
    },
  };
}
