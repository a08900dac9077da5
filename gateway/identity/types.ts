import type { PeerCertificate } from 'node:tls';
import type { Principal } from '../domain.js';
import type { KeyState } from './key-source.js';

/** What identity verification sees of a request. */
export interface IdentityInput {
  /** The request's headers as received (`req.rawHeaders`: name, value, name, value, …; every value kept). */
  readonly rawHeaders: readonly string[];
  /** The verified client certificate on the mTLS listener (undefined on plain HTTP). */
  readonly peerCertificate?: PeerCertificate;
  /** A target's own token header (`identityHeader`), accepted beside the issuers' headers. */
  readonly tokenHeader?: string;
}

export interface IdentityVerifier {
  /**
   * Verify the caller. Resolves to a Principal, or rejects with EscrowError code `identity_missing` /
   * `identity_rejected` and a stable `reason` (`token_expired`, `audience_mismatch`, `unknown_key`, …).
   */
  verify(input: IdentityInput): Promise<Principal>;
  /**
   * The principal at once when the presented token's verification is cached (a map lookup, no promise), else
   * undefined. It may throw what `verify` would reject with; the pipeline then asks `verify`, which counts and
   * audits the failure.
   */
  cached?(input: IdentityInput): Principal | undefined;
  /** Every header name that may carry a workload token: removed before forwarding. */
  readonly tokenHeaders: readonly string[];
  /**
   * Each issuer's key set: usable or not, and why the last read failed. With `retry`, also starts a new read of
   * an unusable set when its cooldown allows (readiness probes do: an unready replica gets no tokens, and tokens
   * are what otherwise trigger a read).
   */
  keyStates(options?: { readonly retry?: boolean }): readonly IssuerKeyState[];
  close(): void;
}

/** One issuer's key set as readiness and `escrow check` report it. */
export interface IssuerKeyState {
  readonly issuer: string;
  readonly state: KeyState;
  /** Where the keys come from: the JWKS URL, the discovery document's URL, or the file. */
  readonly source: string;
  /** Why the last read failed (no token material), when it did. */
  readonly error?: string;
}
