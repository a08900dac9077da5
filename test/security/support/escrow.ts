import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { RunningGateway } from '../../../gateway/app.js';
import { createLogger } from '../../../gateway/log.js';
import type { Listeners } from '../../../gateway/server.js';
import { startEscrow } from '../../support/escrow.js';
import type { TokenOptions } from '../../support/keys.js';

/** Lets agents do anything on dev targets (the security suites test containment, not policy). */
export const PERMISSIVE_POLICY = `
@id("security-tests-dev")
permit (principal is Escrow::Agent, action, resource is Escrow::Target)
when { resource.environment == "dev" };
`;

export interface LoggedEscrow {
  readonly url: string;
  readonly port: number;
  readonly adminUrl: string;
  readonly gw: RunningGateway;
  readonly listeners: Listeners;
  readonly prefix: string;
  token(options?: TokenOptions): Promise<string>;
  openTask(token: string, targets: readonly string[], intent?: string): Promise<string>;
  /** Every log line written so far (debug level and up). */
  logs(): string;
  /** The audit file's text, after a flush. */
  audit(): Promise<string>;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

export interface LoggedEscrowOptions {
  readonly targets: readonly Record<string, unknown>[];
  readonly env?: Record<string, string>;
  readonly proxy?: Record<string, unknown>;
  readonly policy?: string;
}

/**
 * A real Escrow in this process (real listeners on port 0, real Redis under its own prefix) whose logger
 * writes to a buffer at debug level, so a suite can search every log line for a canary.
 */
export async function startLoggedEscrow(options: LoggedEscrowOptions): Promise<LoggedEscrow> {
  const lines: Buffer[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(Buffer.from(chunk));
      callback();
    },
  });
  const escrow = await startEscrow({
    targets: options.targets,
    ...(options.env ? { env: options.env } : {}),
    policies: { 'security.cedar': options.policy ?? PERMISSIVE_POLICY },
    config: { proxy: { listen: '127.0.0.1:0', ...options.proxy } },
    log: createLogger({ level: 'debug', destination }),
  });
  return {
    ...escrow,
    port: Number(new URL(escrow.url).port),
    logs: () => Buffer.concat(lines).toString('utf8'),
    async audit() {
      await escrow.gw.audit.flush();
      return existsSync(join(escrow.dir, 'audit.log')) ? readFileSync(join(escrow.dir, 'audit.log'), 'utf8') : '';
    },
    metrics: async () => (await fetch(`${escrow.adminUrl}/metrics`)).text(),
  };
}

/** A target entry for `upstream` with the header adapter injecting `x-api-key` from `env:KEY`. */
export function headerTarget(name: string, upstream: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    upstream,
    attributes: { sensitivity: 'low', environment: 'dev' },
    credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
    ...extra,
  };
}
