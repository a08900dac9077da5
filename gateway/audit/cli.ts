import { hashSecret, isHex64 } from './canonical.js';
import { formatTrace } from './format.js';
import { type SecretTrace, traceSecret } from './trace.js';
import {
  type Finding,
  type RetentionState,
  type TrailEntry,
  VERIFY_EXIT,
  type VerifyOutcome,
  verifyChain,
} from './verify.js';

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
  /** Audit lines, or stream entries with what the stream knows about them. */
  readonly input: readonly (string | TrailEntry)[];
  readonly json: boolean;
  /** What the Redis stream records about its retention (absent for a file). */
  readonly retention?: RetentionState;
  /** Where the input came from, for the report (`file audit.log`, `Redis stream escrow:audit`). */
  readonly source?: string;
}

const HEADLINE: Readonly<Record<VerifyOutcome, string>> = {
  ok: 'every hash chain intact',
  trimmed: 'every hash chain intact; retention removed the oldest events',
  gap: 'events are missing (lost, not changed: a sink down past its queue, a store restart, or a deletion)',
  malformed: 'a line is not an audit event',
  reordered: "a writer's events are out of order",
  edited: 'an event was changed after it was written',
};

function describeFinding(finding: Finding, unit: string): string {
  const where = `${unit} ${finding.index + 1}`;
  switch (finding.kind) {
    case 'torn':
      return `${where}: torn write (a partial line from a write that failed or was killed; never acknowledged)`;
    case 'malformed':
      return `${where}: not an audit event`;
    case 'trimmed':
      return `writer ${finding.writer}: trimmed head, ${finding.count} event(s) before seq ${finding.beforeSeq} removed by retention`;
    case 'gap':
      return `writer ${finding.writer}: gap from seq ${finding.fromSeq} to ${finding.toSeq} (${finding.toSeq - finding.fromSeq + 1} event(s)), before ${where}`;
    case 'reordered':
    case 'edited':
      return `${where}: ${finding.kind} event (writer ${finding.writer}, seq ${finding.seq})`;
    default: {
      const never: never = finding;
      throw new Error(`unknown finding ${JSON.stringify(never)}`);
    }
  }
}

/** `escrow audit verify`: the report, its outcome, and the exit status for that outcome (`VERIFY_EXIT`). */
export function auditVerify(args: AuditVerifyArgs): {
  readonly output: string;
  readonly ok: boolean;
  readonly outcome: VerifyOutcome;
  readonly exitCode: number;
} {
  const report = verifyChain(args.input, { ...(args.retention ? { retention: args.retention } : {}) });
  const exitCode = VERIFY_EXIT[report.outcome];
  const result = { ok: report.ok, outcome: report.outcome, exitCode };
  if (args.json) return { ...result, output: JSON.stringify({ source: args.source, ...report }, null, 2) };
  const unit = args.source?.startsWith('Redis') ? 'entry' : 'line';
  const from = args.source ? ` in ${args.source}` : '';
  const lines = [
    `${report.outcome.toUpperCase()}: ${report.events} event(s) from ${report.writers} writer(s)${from}; ${HEADLINE[report.outcome]}`,
    ...report.findings.map((finding) => `  ${describeFinding(finding, unit)}`),
  ];
  if (report.moreFindings) lines.push(`  … and ${report.moreFindings} more`);
  return { ...result, output: lines.join('\n') };
}

export interface AuditHashArgs {
  readonly secret: string;
  readonly hmacKey: string;
}

/** `escrow audit hash`: the fingerprint the audit trail would show for this secret. */
export function auditHash(args: AuditHashArgs): string {
  return hashSecret(args.secret, args.hmacKey);
}
