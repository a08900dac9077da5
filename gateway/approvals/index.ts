import type { AuditLog } from '../audit/types.js';
import type { Config } from '../config/schema.js';
import { EscrowError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/types.js';
import { createMemoryApprovalStore } from './memory-store.js';
import { createApprovalMetrics } from './metrics.js';
import { createRedisApprovalStore } from './redis-store.js';
import { ApprovalService } from './service.js';
import { Webhook } from './webhook.js';

export { handleAdminApprovals } from './admin.js';
export { admitApproval } from './agent.js';
export { handleApprovalApi } from './api.js';
export { ApprovalService } from './service.js';
export { taskStatus } from './task-status.js';
export { approvalForOpen, openedState, requestTaskApproval, requireParentApproved } from './tasks.js';

export interface ApprovalOptions {
  readonly config: Config;
  readonly store: Store;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now: () => number;
  /** Resolves secret references (and registers their values with the scrubber). */
  readonly secret: (ref: string) => string;
  readonly closeTask: (taskId: string) => Promise<unknown>;
}

/** Resolve a secret reference of the webhook; a failure names its config path, never a value. */
function resolveAt(path: string, ref: string, secret: (ref: string) => string): string {
  try {
    return secret(ref);
  } catch (error) {
    throw new EscrowError('config_invalid', `approvals.webhook.${path}: ${(error as Error).message}`);
  }
}

function webhookUrl(value: string, secret: (ref: string) => string): string {
  const url = /^(env|file):/.test(value) ? resolveAt('url', value, secret) : value;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    // Never the value: it may be a secret (a Slack webhook URL).
    throw new EscrowError('config_invalid', 'approvals.webhook.url: must resolve to an http:// or https:// URL');
  }
  return url;
}

/**
 * Only a `Human` principal decides, and which issuer makes one is config: a people's issuer that shares its `iss`
 * or its keys with an agents' issuer would let whoever mints agent tokens mint approvers. Said at start.
 */
function warnOnSharedIssuers(config: Config, log: Logger): void {
  const agents = config.identity.issuers.filter((i) => i.principal === 'Agent');
  for (const person of config.identity.issuers.filter((i) => i.principal === 'Human')) {
    const shared = agents.find((a) => a.jwks === person.jwks || (a.issuer !== undefined && a.issuer === person.issuer));
    if (shared) {
      log.warn(
        { human: person.name, agent: shared.name },
        'a Human issuer shares its issuer or key set with an Agent issuer: whoever mints agent tokens could mint approvers',
      );
    }
  }
}

/** Build the approvals from config, on the store's own Redis client (or in memory for `memory://`). */
export function createApprovals(o: ApprovalOptions): ApprovalService {
  const { approvals } = o.config;
  warnOnSharedIssuers(o.config, o.log);
  const store = o.store.redis
    ? createRedisApprovalStore(o.store.redis, o.config.storePrefix, () => o.metrics.storeErrors.inc())
    : createMemoryApprovalStore(o.now);
  const metrics = createApprovalMetrics(o.metrics.registry, () => store.pending.count(o.now()));
  const hook = approvals.webhook;
  const webhook = hook
    ? new Webhook({
        url: webhookUrl(hook.url, o.secret),
        ...(hook.secret ? { secret: resolveAt('secret', hook.secret, o.secret) } : {}),
        format: hook.format,
        timeoutMs: hook.timeoutMs,
        maxAttempts: hook.maxAttempts,
        retryBaseMs: hook.retryBaseMs,
        now: o.now,
        log: o.log,
        metrics,
      })
    : undefined;
  return new ApprovalService({
    store,
    audit: o.audit,
    metrics,
    limits: approvals,
    log: o.log,
    now: o.now,
    ...(webhook ? { webhook } : {}),
    publish: (message) => o.store.revocations.publish(message),
    closeTask: o.closeTask,
  });
}
