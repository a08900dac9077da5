import type { Pool } from 'undici';
import type { Adapter } from '../adapters/types.js';
import type { TargetConfig } from './config/schema.js';
import type { TargetFacts } from './policy/types.js';

/** A target as the pipeline uses it: its config, its adapter, its upstream pool. Built once at start. */
export interface TargetRuntime {
  readonly config: TargetConfig;
  readonly adapter: Adapter;
  readonly pool: Pool;
  /** The upstream URL's path without a trailing slash (`''` for the root). */
  readonly basePath: string;
  readonly origin: string;
  readonly facts: TargetFacts;
  readonly allowedResponseHeaders: ReadonlySet<string>;
  /** Every header that may carry a workload token for this target: removed before forwarding. */
  readonly tokenHeaders: ReadonlySet<string>;
}

export function upstreamPath(target: TargetRuntime, rest: string): string {
  // An MCP target is one endpoint, the upstream URL itself (gateway/mcp/exchange.ts refuses any other `rest`).
  if (target.config.protocol === 'mcp') return target.basePath || '/';
  return target.basePath + rest;
}
