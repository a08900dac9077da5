import type { Adapter } from '../adapters/types.js';
import { circuitMetrics, type RunningGateway, registeringResolver } from './app.js';
import { type LoadedConfig, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { EscrowError } from './errors.js';
import type { Logger } from './log.js';
import { REJECT_REASONS, type RejectReason, type ReloadLabel } from './metric-labels.js';
import { buildTargetRuntime, closeAdapters, createTargetAdapters, type TargetRuntime } from './targets.js';

/** What a SIGHUP did. Nothing is applied unless everything in the new config could be. */
export type ReloadResult =
  | { readonly outcome: 'applied'; readonly targets: readonly string[]; readonly policySetHash: string }
  | { readonly outcome: 'restart_needed'; readonly paths: readonly string[] }
  | { readonly outcome: 'rejected'; readonly reason: RejectReason; readonly message: string };

/** The reason a config error carries (gateway/config/load.ts, secret-ref.ts), looking through causes. */
function rejectReason(error: unknown, fallback: RejectReason): RejectReason {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const reason = e instanceof EscrowError ? e.reason : undefined;
    if (reason && (REJECT_REASONS as readonly string[]).includes(reason)) return reason as RejectReason;
  }
  return fallback;
}

const MAX_PATHS = 20;

/**
 * Config paths whose values differ between the running and the new config, leaving out what a reload
 * applies (`targets[i].credential`, and `targets[i].upstream` of a `protocol: http` target). Anything listed here
 * needs a restart.
 */
export function restartPaths(current: Config, next: Config): string[] {
  const paths: string[] = [];
  const reloadable = (path: string) => {
    if (/^targets\[\d+\]\.credential$/.test(path)) return true;
    const upstream = /^targets\[(\d+)\]\.upstream$/.exec(path);
    if (!upstream) return false;
    const i = Number(upstream[1]);
    // An MCP session or a postgres listener is bound to its upstream: those change with a restart.
    return current.targets[i]?.protocol === 'http' && next.targets[i]?.protocol === 'http';
  };
  const walk = (a: unknown, b: unknown, path: string) => {
    if (paths.length >= MAX_PATHS || reloadable(path)) return;
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

async function buildAdapters(loaded: LoadedConfig, gw: RunningGateway, env: NodeJS.ProcessEnv, seen: Set<string>) {
  // The new secrets are needles from the moment they are read (scrubbing more for a while is harmless).
  const resolveSecret = registeringResolver(gw.secrets, 'targets', loaded.baseDir, env, seen);
  return createTargetAdapters(loaded.config.targets, { resolveSecret, baseDir: loaded.baseDir, now: gw.now });
}

/**
 * SIGHUP: re-read the config file and apply what can change in place, all of it or nothing.
 * Applied: target credentials (options and secret values, re-read from `env:`/`file:`), an HTTP target's upstream
 * URL (its circuit breaker starts closed, its pool is new) and the policy directory's contents. Anything else that changed (listeners, store, keys, identity, limits, targets
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
  const seen = new Set<string>();
  try {
    loaded = loadConfig(path, env);
  } catch (error) {
    return { outcome: 'rejected', reason: rejectReason(error, 'invalid_schema'), message: (error as Error).message };
  }
  const paths = restartPaths(gw.config, loaded.config);
  if (paths.length > 0) return { outcome: 'restart_needed', paths };
  try {
    adapters = await buildAdapters(loaded, gw, env, seen);
  } catch (error) {
    const reason = rejectReason(error, 'invalid_credential');
    return { outcome: 'rejected', reason, message: (error as Error).message };
  }
  if (!(await gw.policy.reload())) {
    await closeAdapters(adapters.values()); // a rejected reload's adapters never serve
    const message = 'policies do not validate (the last good set stays enforced)';
    return { outcome: 'rejected', reason: 'invalid_policy', message };
  }
  // One new snapshot, swapped in at once: a request sees either every old or every new target. What still fits the
  // new config is carried over (an open circuit stays open in front of the same upstream; unchanged pools stay).
  const next = new Map<string, TargetRuntime>();
  for (const config of loaded.config.targets) {
    const previous = gw.targets.get(config.name);
    const options = { tokenHeaders: gw.identity.tokenHeaders, onCircuitState: circuitMetrics(gw.metrics), previous };
    next.set(config.name, buildTargetRuntime(config, adapters.get(config.name)!, options));
  }
  const replaced = gw.targets.replace(next);
  const kept = new Set([...next.values()].map((t) => t.pool));
  // A replaced pool or adapter closes once every request routed to it is done (Users), not under an admitted
  // request. Every adapter is replaced (credentials are re-read); a pool only when the new config does not fit it.
  for (const old of replaced.values()) {
    const pool = old.pool;
    if (pool && !kept.has(pool)) old.poolUsers.retire(() => void pool.close().catch(() => {}));
    old.users.retire(() => void closeAdapters([old.adapter]));
  }
  // Old static secrets stop being needles unless a cached lease still carries them (it holds its own reference).
  gw.secrets.setStatic('targets', seen);
  // A credential may have changed adapter: its leases-issued series starts at 0 too (idempotent for the rest).
  gw.metrics.initializeSeries({
    targets: [...next.values()].map((t) => ({ name: t.config.name, adapter: t.adapter.kind })),
    auditSinks: [],
  });
  return { outcome: 'applied', targets: [...adapters.keys()], policySetHash: gw.policy.policySetHash };
}

/** The reload metric's `result` for an outcome. */
export function reloadLabel(result: ReloadResult): ReloadLabel {
  switch (result.outcome) {
    case 'applied':
      return 'applied';
    case 'restart_needed':
      return 'restart_required';
    case 'rejected':
      return result.reason;
    default: {
      const never: never = result;
      throw new Error(`unknown reload outcome ${JSON.stringify(never)}`);
    }
  }
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
      log.error(
        { reason: result.reason, err: result.message },
        'SIGHUP: the new config was rejected; the running config is kept',
      );
      return;
    default: {
      const never: never = result;
      throw new Error(`unknown reload outcome ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Everything a SIGHUP leaves behind: the log line, `escrow_config_reloads_total{result}` (so that a rejected reload
 * can page: EscrowConfigReloadFailed) and an audit event (`config.reloaded`: a change of what Escrow enforces is an
 * operator action). A reload that throws unexpectedly counts as `error` and leaves the running config.
 */
export async function reloadOnSignal(gw: RunningGateway, path: string, log: Logger): Promise<ReloadResult> {
  let result: ReloadResult;
  try {
    result = await reloadConfig(gw, path);
  } catch (error) {
    result = { outcome: 'rejected', reason: 'error', message: (error as Error).message };
  }
  logReload(log, result);
  const label = reloadLabel(result);
  gw.metrics.configReloads.inc({ result: label });
  gw.audit.record({
    event: 'config.reloaded',
    decision: result.outcome === 'applied' ? 'allow' : 'deny',
    result: label,
    ...(result.outcome === 'restart_needed' ? { paths: result.paths } : {}),
    ...(result.outcome === 'applied' ? { policySetHash: result.policySetHash } : {}),
  });
  return result;
}
