import type { AdapterContext } from '../../../adapters/types.js';
import { resolveSecretRef } from '../../../gateway/config/secret-ref.js';

/** A canary secret: tests prove it never shows up in an error, a log line or a response. */
export function canary(label: string): string {
  return `canary-${label}-${Math.random().toString(36).slice(2, 12)}`;
}

/** An AdapterContext whose `env:` references resolve from `env` (not the process's environment). */
export function testContext(env: Record<string, string>, overrides: Partial<AdapterContext> = {}): AdapterContext {
  const baseDir = overrides.baseDir ?? process.cwd();
  return {
    resolveSecret: (ref) => resolveSecretRef(ref, baseDir, env),
    path: 'targets[0].credential',
    baseDir,
    now: Date.now,
    ...overrides,
  };
}
