import type { Pool } from 'undici';
import type { Adapter } from '../adapters/types.js';
import type { TargetConfig } from './config/schema.js';
import type { TargetFacts } from './policy/types.js';

/** A target as the pipeline uses it: its config, its adapter, its upstream pool. Built once at start. */
export interface TargetRuntime {
  readonly config: TargetConfig;
  readonly adapter: Adapter;
  /** The HTTP upstream's connection pool (absent for `protocol: postgres`, whose listener connects itself). */
  readonly pool: Pool | undefined;
  /** The upstream URL's path without a trailing slash (`''` for the root). */
  readonly basePath: string;
  readonly origin: string;
  readonly facts: TargetFacts;
  readonly allowedResponseHeaders: ReadonlySet<string>;
  /** Every header that may carry a workload token for this target: removed before forwarding. */
  readonly tokenHeaders: ReadonlySet<string>;
}

export function upstreamPath(target: TargetRuntime, rest: string): string {
  return target.basePath + rest;
}
