import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { type FlattenedJWSInput, type JWSHeaderParameters, errors as jose } from 'jose';
import type { IssuerConfig } from '../config/identity-schema.js';
import { type FetchLike, fetchJson } from './fetch.js';
import { type KeySet, parseKeySet } from './keyset.js';
import { identityError } from './reasons.js';

export interface KeySourceOptions {
  readonly issuer: IssuerConfig;
  readonly baseDir: string;
  /** Epoch milliseconds. */
  readonly now: () => number;
  readonly fetch: FetchLike;
  /** Told of every failed read (for the log and `escrow_identity_key_fetch_failures_total`). */
  readonly onFailure?: (error: unknown) => void;
}

/**
 * Whether an issuer's tokens can be verified: `ok`, `never_loaded` (no read has succeeded since start) or
 * `stale` (the last good keys are older than `jwksMaxStaleSeconds`: every token is refused).
 */
export type KeyState = 'ok' | 'never_loaded' | 'stale';

type VerifyKey = Awaited<ReturnType<KeySet['resolve']>>;

const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 512 * 1024;

/**
 * One issuer's signing keys, cached. Keys are re-read every refresh interval (the bundle's
 * `spiffe_refresh_hint`, else `jwksRefreshSeconds`) in the background; an unknown `kid` triggers at most one
 * re-read per cooldown, so a flood of tokens with made-up `kid`s cannot become a flood of fetches. While the
 * source is down the last keys stay usable for `jwksMaxStaleSeconds` after the last good read, then every
 * token is refused (`jwks_unavailable`): fail closed rather than trust keys that may have been revoked.
 */
export class KeySource {
  readonly #options: KeySourceOptions;
  #set: KeySet | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<boolean> | undefined;
  #jwksUri: string | undefined;
  /** Why the last read failed, for operators (`cause` of `jwks_unavailable`). Never token material. */
  lastError: unknown;

  constructor(options: KeySourceOptions) {
    this.#options = options;
  }

  /** Where the keys come from, for operators: the JWKS URL, the discovery document's URL, or the file path. */
  get source(): string {
    const { jwks, issuer } = this.#options.issuer;
    if (jwks.startsWith('file:')) return resolvePath(this.#options.baseDir, jwks.slice('file:'.length));
    const href = jwks === 'discovery' ? `${(issuer ?? '').replace(/\/+$/, '')}/.well-known/openid-configuration` : jwks;
    if (!URL.canParse(href)) return jwks;
    const url = new URL(href);
    return `${url.origin}${url.pathname}`; // never userinfo or a query: they could carry credentials
  }

  /** A jose key resolver over this source. */
  readonly resolve = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<VerifyKey> => {
    const set = await this.#usableSet();
    try {
      return await set.resolve(header, token);
    } catch (error) {
      if (!(error instanceof jose.JWKSNoMatchingKey) || !this.#mayFetch()) throw error;
      await this.refresh();
      return (await this.#usableSet()).resolve(header, token);
    }
  };

  /** Read the keys now (deduplicated with a read already in flight). Resolves to whether it succeeded. */
  refresh(): Promise<boolean> {
    if (this.#inflight) return this.#inflight;
    this.#attemptedAt = this.#options.now();
    this.#inflight = this.#load()
      .then((set) => {
        this.#set = set;
        this.#fetchedAt = this.#options.now();
        return true;
      })
      .catch((error: unknown) => {
        this.lastError = this.#scrubbed(error);
        this.#options.onFailure?.(this.lastError);
        return false;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    return this.#inflight;
  }

  /** Whether tokens can be verified now (see KeyState). */
  state(): KeyState {
    if (this.#set === undefined) return 'never_loaded';
    return this.#options.now() - this.#fetchedAt < this.#maxStaleMs() ? 'ok' : 'stale';
  }

  /** Read again now if the keys are not usable and the cooldown allows it. */
  retryIfDue(): void {
    if (this.state() !== 'ok' && this.#mayFetch()) void this.refresh();
  }

  /**
   * The failure as operators may see it: a library's message can quote the URL it was given, and a query string
   * may carry a credential. Each cause becomes a plain Error (message and `code` kept) with queries cut out.
   */
  #scrubbed(error: unknown, depth = 0): Error {
    const urls = [this.#options.issuer.jwks, this.#jwksUri ?? ''].filter((u) => URL.canParse(u)).map((u) => new URL(u));
    let message = error instanceof Error ? error.message : String(error);
    for (const url of urls) if (url.search !== '') message = message.replaceAll(url.search, '?<redacted>');
    const cause = (error as { cause?: unknown } | undefined)?.cause;
    const scrubbed = new Error(
      message,
      depth < 3 && cause !== undefined ? { cause: this.#scrubbed(cause, depth + 1) } : {},
    );
    const code = (error as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string') Object.assign(scrubbed, { code });
    return scrubbed;
  }

  async #usableSet(): Promise<KeySet> {
    const age = this.#options.now() - this.#fetchedAt;
    if (this.#set && age >= this.#refreshMs() && this.#mayFetch()) void this.refresh();
    if (this.#set && age < this.#maxStaleMs()) return this.#set;
    if (this.#mayFetch()) await this.refresh();
    else if (this.#inflight) await this.#inflight;
    const fresh = this.#options.now() - this.#fetchedAt < this.#maxStaleMs();
    if (!this.#set || !fresh) throw identityError('jwks_unavailable', this.lastError);
    return this.#set;
  }

  #mayFetch(): boolean {
    return this.#options.now() - this.#attemptedAt >= this.#options.issuer.jwksCooldownSeconds * 1000;
  }

  #refreshMs(): number {
    const { jwksRefreshSeconds, jwksCooldownSeconds } = this.#options.issuer;
    const seconds = this.#set?.refreshHintSeconds ?? jwksRefreshSeconds;
    return Math.max(seconds, jwksCooldownSeconds) * 1000;
  }

  #maxStaleMs(): number {
    return this.#options.issuer.jwksMaxStaleSeconds * 1000;
  }

  async #load(): Promise<KeySet> {
    const { jwks } = this.#options.issuer;
    if (jwks.startsWith('file:')) {
      const text = await readFile(resolvePath(this.#options.baseDir, jwks.slice('file:'.length)), 'utf8');
      return parseKeySet(JSON.parse(text));
    }
    const url = jwks === 'discovery' ? await this.#discoveredJwksUri() : jwks;
    try {
      return parseKeySet(await this.#fetch(url));
    } catch (error) {
      this.#jwksUri = undefined; // the provider may have moved its keys: discover again next time
      throw error;
    }
  }

  #fetch(url: string): Promise<unknown> {
    return fetchJson(url, { fetch: this.#options.fetch, timeoutMs: FETCH_TIMEOUT_MS, maxBytes: MAX_DOCUMENT_BYTES });
  }

  /** OIDC discovery: the document must name exactly the configured issuer, as OpenID Connect Discovery §4.3 asks. */
  async #discoveredJwksUri(): Promise<string> {
    if (this.#jwksUri) return this.#jwksUri;
    const issuer = this.#options.issuer.issuer;
    if (issuer === undefined) throw new Error('discovery needs issuer');
    const document = await this.#fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
    const { issuer: named, jwks_uri: jwksUri } = (document ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (named !== issuer) throw new Error('discovery document names another issuer');
    if (typeof jwksUri !== 'string') throw new Error('discovery document has no jwks_uri');
    const uri = new URL(jwksUri);
    if (uri.protocol !== 'https:' && uri.protocol !== new URL(issuer).protocol) {
      throw new Error('jwks_uri downgrades to plain http');
    }
    this.#jwksUri = uri.href;
    return uri.href;
  }
}
