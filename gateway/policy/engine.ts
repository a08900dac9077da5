import type { Decision } from '../domain.js';
import { EscrowError } from '../errors.js';
import { type CompiledPolicySet, type CompileOptions, compilePolicySet } from './compile.js';
import { evaluate, newDecisionId } from './decide.js';
import { readPolicyDir } from './load.js';
import { type ReloadReporting, reloadSlot, type Slot } from './reload.js';
import type { AuthorizationRequest, PolicyEngine } from './types.js';
import { validatePolicySet } from './validate.js';
import { type StopWatching, watchDirectory } from './watch.js';

export type { ReloadInfo, ReloadResult } from './reload.js';

/** A decision of the shadow set that differs from the enforced one. The shadow set never decides. */
export interface ShadowMismatch {
  readonly decisionId: string;
  readonly enforced: Decision['decision'];
  readonly shadow: Decision['decision'];
  readonly enforcedPolicies: readonly string[];
  readonly shadowPolicies: readonly string[];
}

export interface PolicyEngineOptions extends ReloadReporting {
  /** Directory with `schema.cedarschema` and `**\/*.cedar`. */
  dir: string;
  /** Clock (epoch ms), used only when a request carries no usable `now`. */
  now?: () => number;
  /** Reload when a file under `dir` (or `shadowDir`) changes. */
  watch?: boolean;
  watchDebounceMs?: number;
  /** A candidate policy set evaluated beside the enforced one on every request, never deciding. */
  shadowDir?: string;
  onShadowMismatch?: (info: ShadowMismatch) => void;
  /**
   * One preparsed set per target, each sent only what its policies read (default true). `false` is the plain form:
   * one set, whole requests. Decisions are the same either way (test/unit/policy/slicing.test.ts).
   */
  slice?: boolean;
}

export interface LoadedPolicyEngine extends PolicyEngine {
  /** Re-read the directories. Resolves true when every set was swapped in; a rejected set keeps the last good one. */
  reload(): Promise<boolean>;
  close(): void;
  readonly policyCount: number;
}

/** Read, validate strictly and preparse one policy directory. Throws `config_invalid` naming the file and policy. */
export async function compileDir(dir: string, options: CompileOptions = {}): Promise<CompiledPolicySet> {
  const source = await readPolicyDir(dir);
  const errors = validatePolicySet(source);
  if (errors.length > 0) {
    throw new EscrowError('config_invalid', `policies in ${dir} are invalid: ${errors.join('; ')}`, {
      reason: 'policy_invalid',
    });
  }
  return compilePolicySet(source, options);
}

/**
 * Load a policy directory into a synchronous Cedar engine. Throws `config_invalid` when the set at start is invalid.
 * Any evaluation problem denies; reloads swap a whole validated set atomically or keep the last good one.
 */
export async function createPolicyEngine(options: PolicyEngineOptions): Promise<LoadedPolicyEngine> {
  const slice: CompileOptions = options.slice === false ? { slice: false, prune: false } : {};
  const clock = options.now ?? Date.now;
  const slots: Slot[] = [{ dir: options.dir, name: 'enforced', current: await compileDir(options.dir, slice) }];
  if (options.shadowDir !== undefined) {
    slots.push({ dir: options.shadowDir, name: 'shadow', current: await compileDir(options.shadowDir, slice) });
  }
  const [enforced, shadow] = slots as [Slot, Slot | undefined];
  let closed = false;
  let reloading: Promise<boolean> = Promise.resolve(true);

  // Reloads run one after another so that two quick changes cannot swap sets out of order.
  const reload = (): Promise<boolean> => {
    reloading = reloading.then(async () => {
      let ok = true;
      for (const slot of slots) {
        ok =
          (await reloadSlot(
            slot,
            (dir) => compileDir(dir, slice),
            () => closed,
            options,
          )) && ok;
      }
      return ok;
    });
    return reloading;
  };

  const stops: StopWatching[] = options.watch
    ? slots.map((s) => watchDirectory(s.dir, options.watchDebounceMs ?? 150, () => void reload()))
    : [];

  const authorize = (request: AuthorizationRequest): Decision => {
    const now = Number.isFinite(request.now) ? request.now : clock();
    const id = newDecisionId();
    const verdict = evaluate(enforced.current, request, now);
    if (shadow !== undefined) compareShadow(shadow.current, request, now, id, verdict, options.onShadowMismatch);
    return { id, ...verdict };
  };

  return {
    authorize,
    reload,
    close: () => {
      closed = true;
      for (const stop of stops) stop();
      for (const slot of slots) slot.current.release();
    },
    get policySetHash() {
      return enforced.current.hash;
    },
    get policyCount() {
      return enforced.current.policyCount;
    },
  };
}

function compareShadow(
  set: CompiledPolicySet,
  request: AuthorizationRequest,
  now: number,
  decisionId: string,
  enforced: Omit<Decision, 'id'>,
  onMismatch: PolicyEngineOptions['onShadowMismatch'],
): void {
  const shadow = evaluate(set, request, now);
  if (shadow.decision === enforced.decision || onMismatch === undefined) return;
  try {
    onMismatch({
      decisionId,
      enforced: enforced.decision,
      shadow: shadow.decision,
      enforcedPolicies: enforced.policies,
      shadowPolicies: shadow.policies,
    });
  } catch {
    // A failing observer must not change the enforced decision.
  }
}
