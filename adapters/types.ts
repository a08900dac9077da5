/**
 * The adapter contract: how Escrow obtains a credential for one lease and puts it on an upstream request.
 * A platform team implements this in one file, `export default function create(options, context): Adapter`.
 */

/** What a credential is being issued for. */
export interface LeaseScope {
  readonly leaseId: string;
  readonly taskId: string;
  readonly target: string;
  readonly principalId: string;
  readonly intent: string;
  /** The longest the credential may live (already capped by the task's remaining life). */
  readonly ttlSeconds: number;
}

/** Secret material for one lease. Stored encrypted; never logged. */
export interface Credential {
  /** Named secret values the adapter needs to inject (e.g. `{ token }`, `{ username, password }`). */
  readonly fields: Readonly<Record<string, string>>;
  /** How long the credential is good for, in seconds (≤ the scope's ttlSeconds). */
  readonly ttlSeconds: number;
  /**
   * Every value the adapter puts on the wire for this credential (raw secret, `user:pass` and its base64, a minted
   * token, a query value…). The scrubber removes each of these in every encoding it knows (docs/security.md) from
   * everything every agent sees.
   * `wireForms[0]` is the raw secret: the audit trail's `secretFingerprint` is taken of it.
   */
  readonly wireForms: readonly string[];
  /** Non-secret state the adapter needs to revoke it later (e.g. a dynamic username). */
  readonly revocationHandle?: string;
}

/** The upstream request, after hygiene and before forwarding; the adapter mutates it. */
export interface UpstreamRequest {
  readonly method: string;
  /** Path and query as sent upstream (already normalised and authorized). */
  path: string;
  /** Lower-case header names. */
  readonly headers: Record<string, string | string[]>;
  /** The whole body, present only for adapters that declare `needsBody`. */
  readonly body?: Buffer;
}

export interface Adapter {
  /** Adapter kind (`header`, `basic`, …, or the module path). */
  readonly kind: string;
  /** True when `inject` needs the request body (e.g. to sign its digest). */
  readonly needsBody?: boolean;
  /** Obtain a credential for one lease. Throws on failure (the request is then refused). */
  issue(scope: LeaseScope): Promise<Credential>;
  /**
   * Put the credential on the request. Synchronous and deterministic apart from clock-dependent signatures.
   * Returns the values it derived for this request alone that stand for the secret (an HMAC signature): Escrow
   * scrubs them from responses like the credential's `wireForms`. Values fixed per credential belong in
   * `wireForms` instead.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: adapters that derive nothing keep returning nothing
  inject(request: UpstreamRequest, credential: Credential): void | readonly string[];
  /** Invalidate a dynamic credential at the upstream (optional: static secrets cannot be revoked). */
  revoke?(credential: Credential): Promise<void>;
  /**
   * Release what the adapter holds (e.g. admin connections): once the gateway stops, once a SIGHUP replaced it and
   * no admitted request uses it any more, or at once when the reload that built it was rejected.
   */
  close?(): Promise<void>;
}

/** What every adapter factory receives beside its own options. */
export interface AdapterContext {
  /** Resolves an `env:`/`file:` reference to its value (throws if missing). */
  readonly resolveSecret: (ref: string) => string;
  /** Config path of these options, for error messages (`targets[0].credential`). */
  readonly path: string;
  /** Directory that relative paths in options are resolved against. */
  readonly baseDir: string;
  readonly now: () => number;
  /** The target's `upstream` (an adapter that manages credentials at that server may default to it). */
  readonly upstream?: string;
}

export type AdapterFactory = (options: Record<string, unknown>, context: AdapterContext) => Adapter | Promise<Adapter>;
