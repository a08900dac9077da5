import type { IncomingHttpHeaders } from 'node:http';
import type { PeerCertificate } from 'node:tls';
import type { Principal } from '../domain.js';

/** What identity verification sees of a request. */
export interface IdentityInput {
  readonly headers: IncomingHttpHeaders;
  /** Every value of every header, as Node's `req.headersDistinct` gives them (its `Dict` type included). */
  readonly headersDistinct: Readonly<Record<string, readonly string[] | undefined>>;
  /** The verified client certificate on the mTLS listener (undefined on plain HTTP). */
  readonly peerCertificate?: PeerCertificate;
  /** A per-target override of the header that carries the token. */
  readonly tokenHeader?: string;
}

export interface IdentityVerifier {
  /**
   * Verify the caller. Resolves to a Principal, or rejects with EscrowError code `identity_missing` /
   * `identity_rejected` and a stable `reason` (`token_expired`, `audience_mismatch`, `unknown_key`, …).
   */
  verify(input: IdentityInput): Promise<Principal>;
  /** Every header name that may carry a workload token: removed before forwarding. */
  readonly tokenHeaders: readonly string[];
  close(): void;
}
