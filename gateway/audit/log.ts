import { createHmac } from 'node:crypto';
import type { AuditEventInput, AuditLog } from './types.js';

export interface SimpleAuditLogOptions {
  readonly hmacKey: string;
  readonly write: (line: string) => void;
  readonly now?: () => number;
}

/** Minimal audit log: one JSON line per event to `write`. (Extended by the audit work: chain, sinks.) */
export function createSimpleAuditLog(options: SimpleAuditLogOptions): AuditLog {
  const now = options.now ?? Date.now;
  return {
    record(event: AuditEventInput) {
      options.write(JSON.stringify({ time: new Date(now()).toISOString(), ...event }));
    },
    async commit(event: AuditEventInput) {
      options.write(JSON.stringify({ time: new Date(now()).toISOString(), ...event }));
    },
    fingerprint(secret: string) {
      return createHmac('sha256', options.hmacKey).update(secret).digest('hex');
    },
    healthy: true,
    async flush() {},
    async close() {},
  };
}
