import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { createGateway, type RunningGateway } from '../../../gateway/app.js';
import { loadConfig } from '../../../gateway/config/load.js';
import { createLogger } from '../../../gateway/log.js';
import { createMetrics } from '../../../gateway/metrics.js';
import { type Listeners, startListeners } from '../../../gateway/server.js';
import { REPO_POLICIES } from '../../support/escrow.js';
import {
  createIssuerKeys,
  type IssuerKeys,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_TRUST_DOMAIN,
  type TokenOptions,
} from '../../support/keys.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../../support/redis.js';

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
  const dir = mkdtempSync(join(tmpdir(), 'escrow-sec-'));
  const keys: IssuerKeys = await createIssuerKeys();
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(keys.jwks));
  writeFileSync(join(dir, 'lease.key'), randomBytes(32).toString('base64'));
  writeFileSync(join(dir, 'audit.key'), randomBytes(32).toString('base64'));
  const policies = join(dir, 'policies');
  cpSync(join(REPO_POLICIES, 'schema.cedarschema'), join(policies, 'schema.cedarschema'));
  writeFileSync(join(policies, 'security.cedar'), options.policy ?? PERMISSIVE_POLICY);
  const prefix = testPrefix('security');
  const config = {
    proxy: { listen: '127.0.0.1:0', ...options.proxy },
    admin: { listen: '127.0.0.1:0' },
    store: REDIS_URL,
    storePrefix: prefix,
    keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
    identity: {
      issuers: [
        {
          name: 'test',
          principal: 'Agent',
          issuer: TEST_ISSUER,
          audience: TEST_AUDIENCE,
          jwks: 'file:jwks.json',
          algorithms: ['ES256'],
          trustDomain: TEST_TRUST_DOMAIN,
        },
      ],
    },
    policies,
    watchPolicies: false,
    audit: { sinks: ['file:audit.log'] },
    targets: options.targets,
  };
  writeFileSync(join(dir, 'escrow.yaml'), stringify(config));
  const env = { ...process.env, ...options.env };
  const lines: Buffer[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(Buffer.from(chunk));
      callback();
    },
  });
  const gw = await createGateway(loadConfig(join(dir, 'escrow.yaml'), env), {
    log: createLogger({ level: 'debug', destination }),
    env,
    metrics: createMetrics(),
    sweepIntervalMs: 0,
  });
  const listeners = await startListeners(gw);
  const port = (listeners.proxy.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${(listeners.admin.address() as AddressInfo).port}`;
  return {
    url,
    port,
    adminUrl,
    gw,
    listeners,
    prefix,
    token: (o) => signToken(keys, o),
    async openTask(token, targets, intent = 'security test') {
      const res = await fetch(`${url}/_escrow/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ intent, targets }),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 201 || !body.id) throw new Error(`openTask: ${res.status} ${JSON.stringify(body)}`);
      return body.id;
    },
    logs: () => Buffer.concat(lines).toString('utf8'),
    async audit() {
      await gw.audit.flush();
      try {
        return readFileSync(join(dir, 'audit.log'), 'utf8');
      } catch {
        return '';
      }
    },
    metrics: async () => (await fetch(`${adminUrl}/metrics`)).text(),
    async close() {
      await listeners.shutdown(1_000);
      await deletePrefix(prefix);
      rmSync(dir, { recursive: true, force: true });
    },
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
