import type { Registry } from 'prom-client';
import type { Store } from '../store/types.js';
import { createMcpMetrics, type McpMetrics } from './metrics.js';
import { createSessionStore, type SessionStore } from './sessions.js';

/**
 * What MCP targets share across requests on one gateway: session bindings and metrics. Live responses are bound to
 * their task like every request (gateway/connections.ts), so a close, an expiry or a kill switch cuts them.
 */
export interface McpRuntime {
  readonly sessions: SessionStore;
  readonly metrics: McpMetrics;
}

export interface McpRuntimeOptions {
  readonly store: Store;
  /** The store's key prefix (`storePrefix`). */
  readonly prefix: string;
  readonly registry: Registry;
  readonly now: () => number;
  /** MCP target names, whose counter series start at 0. */
  readonly targets: readonly string[];
}

export function createMcpRuntime(options: McpRuntimeOptions): McpRuntime {
  const metrics = createMcpMetrics(options.registry, options.targets);
  return {
    sessions: createSessionStore(options.store, options.prefix, options.now),
    metrics,
  };
}
