import { createAdapter } from '../adapters/registry.js';
import type { Adapter } from '../adapters/types.js';
import type { RunningGateway } from './app.js';
import { type LoadedConfig, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { resolveSecretRef } from './config/secret-ref.js';
import type { Logger } from './log.js';
import type { TargetRuntime } from './targets.js';

/** What a SIGHUP did. Nothing is applied unless everything in the new config could be. */
export type ReloadResult =
  | { readonly outcome: 'applied'; readonly targets: readonly string[]; readonly policySetHash: string }
  | { readonly outcome: 'restart_needed'; readonly paths: readonly string[] }
  | { readonly outcome: 'rejected'; readonly message: string };

const MAX_PATHS = 20;

/**
 * Config paths whose values differ between the running and the new config, leaving out what a reload
 * applies (`targets[i].credential`). Anything listed here needs a restart.
 */
export function restartPaths(current: Config, next: Config): string[] {
  const paths: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (paths.length >= MAX_PATHS || /^targets\[\d+\]\.credential$/.test(path)) return;
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
      if (Array.isArray(a) !== Array.isArray(b)) return void paths.push(path);
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const key of keys) {
        const child = Array.isArray(a) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
        walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], child);
      }
      return;
    }
    if (!Object.is(a, b)) paths.push(path || '(root)');
  };
  walk(current, next, '');
  return paths;
}

async function buildAdapters(loaded: LoadedConfig, gw: RunningGateway, env: NodeJS.ProcessEnv) {
  const adapters = new Map<string, Adapter>();
  for (const [i, target] of loaded.config.targets.entries()) {
    const adapter = await createAdapter(target.credential, {
      resolveSecret: (ref) => resolveSecretRef(ref, loaded.baseDir, env),
      path: `targets[${i}].credential`,
      baseDir: loaded.baseDir,
      now: gw.now,
      upstream: target.upstream,
    });
    adapters.set(target.name, adapter);
  }
  return adapters;
}

/**
 * SIGHUP: re-read the config file and apply what can change in place, all of it or nothing.
 * Applied: target credentials (options and secret values, re-read from `env:`/`file:`) and the policy
 * directory's contents. Anything else that changed (listeners, store, keys, identity, limits, targets
 * themselves) needs a restart: the running config is kept whole and the paths are reported. A config that
 * does not validate, a credential that cannot be built or policies that do not validate change nothing.
 * Leases already issued keep their credential until they expire or are renewed.
 */
export async function reloadConfig(
  gw: RunningGateway,
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReloadResult> {
  let loaded: LoadedConfig;
  let adapters: Map<string, Adapter>;
  try {
    loaded = loadConfig(path, env);
    const paths = restartPaths(gw.config, loaded.config);
    if (paths.length > 0) return { outcome: 'restart_needed', paths };
    adapters = await buildAdapters(loaded, gw, env);
  } catch (error) {
    return { outcome: 'rejected', message: (error as Error).message };
  }
  const policy = gw.policy as { reload?: () => Promise<boolean> };
  if (policy.reload && !(await policy.reload())) {
    return { outcome: 'rejected', message: 'policies do not validate (the last good set stays enforced)' };
  }
  // Swapped in one synchronous pass: a request sees either every old or every new credential setup.
  const targets = gw.targets as Map<string, TargetRuntime>;
  for (const config of loaded.config.targets) {
    const current = targets.get(config.name)!;
    targets.set(config.name, { ...current, config, adapter: adapters.get(config.name)! });
  }
  // A credential may have changed adapter: its leases-issued series starts at 0 too (idempotent for the rest).
  gw.metrics.initializeSeries({
    targets: [...targets.values()].map((t) => ({ name: t.config.name, adapter: t.adapter.kind })),
    auditSinks: [],
  });
  return { outcome: 'applied', targets: [...adapters.keys()], policySetHash: gw.policy.policySetHash };
}

/** One log line per SIGHUP, saying what happened and why. Config messages name paths, never secret values. */
export function logReload(log: Logger, result: ReloadResult): void {
  switch (result.outcome) {
    case 'applied':
      log.info({ targets: result.targets, policies: result.policySetHash }, 'SIGHUP: config reloaded');
      return;
    case 'restart_needed':
      log.warn({ paths: result.paths }, 'SIGHUP: these changes need a restart; the running config is kept');
      return;
    case 'rejected':
      log.error({ err: result.message }, 'SIGHUP: the new config was rejected; the running config is kept');
      return;
    default: {
      const never: never = result;
      throw new Error(`unknown reload outcome ${JSON.stringify(never)}`);
    }
  }
}
