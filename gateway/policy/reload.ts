import type { CompiledPolicySet } from './compile.js';

/** One policy directory and the set currently swapped in for it. */
export interface Slot {
  readonly dir: string;
  readonly name: 'enforced' | 'shadow';
  current: CompiledPolicySet;
}

export type ReloadResult = 'ok' | 'rejected';

/** What a reload reports. `set` says which policy set it was about (absent means the enforced one). */
export interface ReloadInfo {
  readonly hash: string;
  readonly error?: string;
  readonly set?: 'enforced' | 'shadow';
}

/** Where a reload is reported: the engine's options carry both. */
export interface ReloadReporting {
  logger?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  onReload?: (result: ReloadResult, info: ReloadInfo) => void;
}

/**
 * Compile `slot.dir` afresh and swap it in, or keep the last good set and report why. The swap is one assignment, so
 * a synchronous `authorize()` sees either the old set or the new one, never a mix. Returns whether it swapped.
 */
export async function reloadSlot(
  slot: Slot,
  compile: (dir: string) => Promise<CompiledPolicySet>,
  isClosed: () => boolean,
  report: ReloadReporting,
): Promise<boolean> {
  let next: CompiledPolicySet;
  try {
    next = await compile(slot.dir);
  } catch (error) {
    const message = error instanceof Error ? error.message : 'policy set could not be loaded';
    const kept = slot.current.hash;
    report.logger?.warn({ set: slot.name, hash: kept, error: message }, 'policy reload rejected; last good set kept');
    report.onReload?.('rejected', { hash: kept, error: message, set: slot.name });
    return false;
  }
  if (isClosed()) {
    next.release();
    return false;
  }
  const previous = slot.current;
  slot.current = next;
  previous.release();
  report.logger?.info({ set: slot.name, hash: next.hash, policies: next.policyCount }, 'policy set reloaded');
  report.onReload?.('ok', { hash: next.hash, set: slot.name });
  return true;
}
