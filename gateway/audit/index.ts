import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { EscrowError } from '../errors.js';
import type { EventStream } from '../store/types.js';
import { hashSecret } from './canonical.js';
import { createSinkQueue, type SinkQueue } from './queue.js';
import { createSealer } from './seal.js';
import { createSink } from './sinks.js';
import type { AuditEventInput, AuditFailMode, AuditLog } from './types.js';

export { GENESIS, hashSecret, isHex64 } from './canonical.js';
export { auditHash, auditTrace, auditVerify } from './cli.js';
export { createSimpleAuditLog } from './log.js';
export { looksLikeJwt } from './redact.js';
export { formatTrace, traceSecret } from './trace.js';
export type * from './types.js';
export { verifyChain } from './verify.js';

export interface AuditLogOptions {
  /** The deployment's audit key (`keys.auditHmac`): fingerprints are HMAC-SHA256 under it. */
  readonly hmacKey: string;
  /** `stdout` | `stderr` | `file:PATH` | `redis` | `none` (alone). Every sink gets every event. */
  readonly sinks: readonly string[];
  /** The store's event stream, required by the `redis` sink. */
  readonly events?: EventStream;
  /** `closed`: no new leases while a sink fails (see `auditPermitsIssuance`); `open`: carry on. */
  readonly failMode: AuditFailMode;
  /** Defaults to `hostname-pid-random`: one hash chain per process. */
  readonly writerId?: string;
  readonly now?: () => number;
  /** Called once per failed write attempt, with the sink's kind (`file`, `redis`, …), never a path. */
  readonly onSinkError?: (sink: string) => void;
  /** Called when a failing sink's queue overflows and its oldest events are dropped. */
  readonly onDrop?: (sink: string, count: number) => void;
  /** Called for every field refused because it looked like a token. Default: a process warning. */
  readonly onRefusedField?: (field: string, event: string) => void;
  /** Relative `file:` paths resolve against this directory (the config file's). */
  readonly baseDir?: string;
  readonly maxQueue?: number;
  readonly batchSize?: number;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  readonly writeTimeoutMs?: number;
}

function defaultWriterId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

function warnRefused(field: string, event: string): void {
  process.emitWarning(`audit: dropped field "${field}" of a "${event}" event: it looks like a token`, 'EscrowAudit');
}

function createQueues(options: AuditLogOptions): SinkQueue[] {
  if (options.sinks.length === 0) throw new EscrowError('config_invalid', 'audit: at least one sink (or "none")');
  if (options.sinks.includes('none') && options.sinks.length > 1) {
    throw new EscrowError('config_invalid', 'audit: sink "none" cannot be combined with other sinks');
  }
  const context = { events: options.events, baseDir: options.baseDir };
  return options.sinks.flatMap((spec) => {
    const sink = createSink(spec, context);
    if (!sink) return [];
    return [
      createSinkQueue(sink, {
        maxQueue: options.maxQueue ?? 10_000,
        batchSize: options.batchSize ?? 256,
        retryInitialMs: options.retryInitialMs ?? 100,
        retryMaxMs: options.retryMaxMs ?? 5_000,
        writeTimeoutMs: options.writeTimeoutMs ?? 2_000,
        onError: options.onSinkError ?? (() => {}),
        onDrop: options.onDrop ?? (() => {}),
      }),
    ];
  });
}

/**
 * The audit log: every event is sealed into its writer's hash chain at once, then queued per sink and
 * written in batches off the request path. A failing sink keeps its events (bounded) and retries with
 * backoff; the log reports `healthy=false` until every sink writes again.
 */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  if (options.hmacKey.length < 16) throw new EscrowError('config_invalid', 'audit: hmacKey must be at least 16 bytes');
  const queues = createQueues(options);
  const now = options.now ?? Date.now;
  const sealer = createSealer({
    writerId: options.writerId ?? defaultWriterId(),
    onRefusedField: options.onRefusedField ?? warnRefused,
  });
  // Sealing (serialise, token check, hash) costs ~15 µs an event: it runs in the batch, not in the request.
  let unsealed: { readonly event: AuditEventInput; readonly at: number }[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  const sealAll = (): void => {
    clearImmediate(scheduled);
    scheduled = undefined;
    const batch = unsealed;
    unsealed = [];
    for (const { event, at } of batch) {
      const line = sealer.seal(event, at);
      for (const queue of queues) queue.push(line);
    }
  };
  const flush = async (): Promise<void> => {
    sealAll();
    await Promise.all(queues.map((queue) => queue.flush()));
  };
  return {
    failMode: options.failMode,
    record(event: AuditEventInput) {
      unsealed.push({ event, at: now() });
      scheduled ??= setImmediate(sealAll);
    },
    fingerprint: (secret: string) => hashSecret(secret, options.hmacKey),
    get healthy() {
      return queues.every((queue) => queue.healthy);
    },
    flush,
    async close() {
      await flush();
      for (const queue of queues) queue.close();
    },
  };
}

/** Whether a new lease may be issued now: always under `failMode: open`, only while healthy under `closed`. */
export function auditPermitsIssuance(log: AuditLog): boolean {
  return log.healthy || log.failMode === 'open';
}
