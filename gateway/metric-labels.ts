/**
 * The bounded label sets of Escrow's metrics, in one leaf module that imports nothing: the modules that count
 * (identity, leases, limits, forwarding, reload) take their reason types from here, and `metrics.ts` starts every
 * known series at 0 from here, so neither has to import the other's side.
 */

/** `escrow_identity_failures_total{reason}`: stable identity failure reasons, safe to show the agent. */
export const IDENTITY_REASONS = [
  'token_missing',
  'token_malformed',
  'token_too_large',
  'token_expired',
  'token_not_yet_valid',
  'token_too_old',
  'token_lifetime_too_long',
  'token_replayed',
  'audience_mismatch',
  'issuer_mismatch',
  'unknown_issuer',
  'unknown_key',
  'bad_signature',
  'algorithm_not_allowed',
  'header_not_allowed',
  'claim_missing',
  'claim_mismatch',
  'trust_domain_mismatch',
  'spiffe_id_invalid',
  'typ_mismatch',
  'duplicate_header',
  'jwks_unavailable',
  'replay_cache_unavailable',
  'cert_invalid',
  'cert_binding_mismatch',
] as const;
export type IdentityReason = (typeof IDENTITY_REASONS)[number];

/** Why the lease service withdrew a credential it had issued. */
export const RETIRE_REASONS = ['renewed', 'superseded', 'task_closed', 'task_expired'] as const;
export type RetireReason = (typeof RETIRE_REASONS)[number];

/** `escrow_leases_revoked_total{reason}`. */
export const REVOCATION_REASONS = [...RETIRE_REASONS, 'parent_closed', 'admin'] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** `escrow_connections_cut_total{reason}`: why a live connection was cut. */
export const CUT_REASONS = ['task_closed', 'expired', 'revoked'] as const;
export type CutReason = (typeof CUT_REASONS)[number];

/** `escrow_limits_exceeded_total{limit}`: named after what was too big or too slow. */
export const LIMIT_NAMES = ['body_size', 'header_size', 'concurrency', 'request_timeout', 'upstream_queue'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** `escrow_upstream_errors_total{kind}`: how an upstream failed. */
export const UPSTREAM_ERROR_KINDS = ['connect', 'timeout', 'reset', 'protocol', 'aborted'] as const;
export type UpstreamErrorKind = (typeof UPSTREAM_ERROR_KINDS)[number];

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
