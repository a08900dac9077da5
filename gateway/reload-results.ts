/** Why a SIGHUP changed nothing, as `escrow_config_reloads_total{result}` counts it (gateway/reload.ts). */
export const REJECT_REASONS = [
  'unreadable',
  'invalid_yaml',
  'invalid_schema',
  'missing_secret',
  'invalid_credential',
  'invalid_policy',
  'error',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Every value of the reload metric's `result` label: applied, a restart-only change, or a rejection reason. */
export const RELOAD_RESULTS = ['applied', 'restart_required', ...REJECT_REASONS] as const;
export type ReloadLabel = (typeof RELOAD_RESULTS)[number];
