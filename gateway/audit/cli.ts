import { hashSecret, isHex64 } from './canonical.js';
import { formatTrace } from './format.js';
import { type SecretTrace, traceSecret } from './trace.js';
import { verifyChain } from './verify.js';

export interface AuditTraceArgs {
  /** Audit lines (a `file:` sink's content, or the Redis stream's entries). */
  readonly input: readonly string[];
  /** A raw secret, or its 64-hex fingerprint. */
  readonly secretOrFingerprint: string;
  readonly hmacKey: string;
  readonly json: boolean;
}

/**
 * `escrow audit trace <secret-or-fingerprint>`. A 64-hex argument is first taken as a fingerprint; if no
 * lease carries it, it is hashed as a secret too (API keys are often 64 hex digits themselves).
 */
export function auditTrace(args: AuditTraceArgs): string {
  const candidates = isHex64(args.secretOrFingerprint)
    ? [args.secretOrFingerprint.toLowerCase(), hashSecret(args.secretOrFingerprint, args.hmacKey)]
    : [hashSecret(args.secretOrFingerprint, args.hmacKey)];
  let trace: SecretTrace | undefined;
  for (const fingerprint of candidates) {
    trace = traceSecret(args.input, fingerprint);
    if (trace.leases.length > 0) break;
  }
  return formatTrace(trace as SecretTrace, args.json ? 'json' : 'text');
}

export interface AuditVerifyArgs {
  readonly input: readonly string[];
  readonly json: boolean;
  /** For a Redis stream trimmed by `MAXLEN`: a writer may start after seq 0. */
  readonly allowTrimmedHead?: boolean;
}

/** `escrow audit verify`: the report, and `ok` for the exit status (non-zero when a chain is broken). */
export function auditVerify(args: AuditVerifyArgs): { readonly output: string; readonly ok: boolean } {
  const report = verifyChain(args.input, { allowTrimmedHead: args.allowTrimmedHead });
  if (args.json) return { output: JSON.stringify(report, null, 2), ok: report.ok };
  const summary = `${report.events} event(s) from ${report.writers} writer(s)`;
  const broken = report.firstBreak;
  const output = broken
    ? `BROKEN: ${summary}; first break at line ${broken.index + 1}: ${broken.problem} event (writer ${broken.writer || '?'}, seq ${broken.seq})`
    : `OK: ${summary}, every hash chain intact`;
  return { output, ok: report.ok };
}

export interface AuditHashArgs {
  readonly secret: string;
  readonly hmacKey: string;
}

/** `escrow audit hash`: the fingerprint the audit trail would show for this secret. */
export function auditHash(args: AuditHashArgs): string {
  return hashSecret(args.secret, args.hmacKey);
}
