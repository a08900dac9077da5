import type { Pool } from 'undici';
import type { Adapter } from '../adapters/types.js';
import type { TargetConfig } from './config/schema.js';
import { type PathOptions, STRICT_PATHS } from './http/canonical.js';
import type { TargetFacts } from './policy/types.js';
import type { UpstreamSlots } from './proxy/slots.js';

/** A target as the pipeline uses it: its config, its adapter, its upstream pool. Built once at start. */
export interface TargetRuntime {
  readonly config: TargetConfig;
  readonly adapter: Adapter;
  /** The HTTP upstream's connection pool (absent for `protocol: postgres`, whose listener connects itself). */
  readonly pool: Pool | undefined;
  /** The cap on requests in flight toward the upstream, with its bounded wait (proxy/slots.ts). */
  readonly slots: UpstreamSlots;
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

/** A target's path options (`allowEncodedSlash`); the strict defaults for any other name (`_escrow`, unknown). */
export function pathOptions(targets: ReadonlyMap<string, TargetRuntime>, name: string): PathOptions {
  return targets.get(name)?.config ?? STRICT_PATHS;
}
