import type { Config } from '../config/schema.js';

/**
 * The audit sinks a config asks for: `audit.sinks` when given; otherwise standard output plus, with a Redis store,
 * the shared stream, so that `escrow audit trace|verify --config` has something to read on every Redis deployment.
 */
export function auditSinks(config: Pick<Config, 'store' | 'audit'>): readonly string[] {
  if (config.audit.sinks) return config.audit.sinks;
  return config.store.startsWith('memory:') ? ['stdout'] : ['stdout', 'redis'];
}

/** The sink kinds as metric labels (`file:PATH` → `file`; `none` has none). */
export function sinkKinds(sinks: readonly string[]): string[] {
  return sinks.flatMap((spec) => (spec === 'none' ? [] : [spec.startsWith('file:') ? 'file' : spec]));
}
