import type { Registry } from 'prom-client';
import type { Store } from '../store/types.js';
import { createMcpMetrics, type McpMetrics } from './metrics.js';
import { createSessionStore, type SessionStore } from './sessions.js';
import { LiveStreams } from './streams.js';

/** What MCP targets share across requests on one gateway: session bindings, live responses, metrics. */
export interface McpRuntime {
  readonly sessions: SessionStore;
  readonly streams: LiveStreams;
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
    streams: new LiveStreams(options.now, (reason) => metrics.cut(reason)),
    metrics,
  };
}
