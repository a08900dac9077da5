import type { ApprovalService } from './approvals/service.js';
import type { AuditLog } from './audit/types.js';
import type { Config } from './config/schema.js';
import type { LiveConnections } from './connections.js';
import type { IdentityVerifier } from './identity/types.js';
import type { InFlightPerPrincipal } from './in-flight.js';
import type { Revoker } from './leases/revoker.js';
import type { LeaseService } from './leases/service.js';
import type { Logger } from './log.js';
import type { McpRuntime } from './mcp/runtime.js';
import type { Metrics } from './metrics.js';
import type { PolicyEngine } from './policy/types.js';
import type { SecretRegistry } from './scrub/registry.js';
import type { Store } from './store/types.js';
import type { TargetRuntime } from './targets.js';
import type { TaskService } from './tasks/service.js';

/** Everything a request needs, built once at start (gateway/app.ts) and passed down explicitly. */
export interface Gateway {
  readonly config: Config;
  readonly targets: ReadonlyMap<string, TargetRuntime>;
  readonly identity: IdentityVerifier;
  readonly policy: PolicyEngine;
  readonly tasks: TaskService;
  readonly leases: LeaseService;
  readonly revoker: Revoker;
  /** What waits for a person (gateway/approvals/). */
  readonly approvals: ApprovalService;
  /** Every secret this replica holds, as the scrubber's needles (gateway/scrub/registry.ts). */
  readonly secrets: SecretRegistry;
  /** Live streams and WebSockets bound to a task: cut when it closes or expires (gateway/connections.ts). */
  readonly connections: LiveConnections;
  /** Requests in flight per principal (`proxy.maxConcurrentPerPrincipal`). */
  readonly inFlight: InFlightPerPrincipal;
  readonly store: Store;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  /** MCP targets' session bindings, live responses and metrics (gateway/mcp/). */
  readonly mcp: McpRuntime;
  readonly log: Logger;
  readonly now: () => number;
}
