/** Fetching issuer documents (JWK Sets, OIDC discovery) without the traps of a plain `fetch`. */

export type FetchLike = typeof fetch;

export interface FetchJsonOptions {
  readonly fetch: FetchLike;
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

const MAX_REDIRECTS = 3;

/**
 * GET a JSON document. Redirects are followed only within the same origin: a JWKS endpoint that redirects
 * elsewhere could hand Escrow an attacker's keys. Times out, and refuses bodies larger than `maxBytes`.
 */
export async function fetchJson(url: string, options: FetchJsonOptions): Promise<unknown> {
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const response = await options.fetch(current, {
      redirect: 'manual',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      current = sameOriginRedirect(current, response.headers.get('location'));
      continue;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`unexpected status ${response.status} from ${current.origin}`);
    }
    return JSON.parse(await readLimited(response, options.maxBytes));
  }
  throw new Error(`too many redirects from ${current.origin}`);
}

function sameOriginRedirect(from: URL, location: string | null): URL {
  if (location === null) throw new Error(`redirect without location from ${from.origin}`);
  const to = new URL(location, from);
  if (to.origin !== from.origin) throw new Error(`refused cross-origin redirect from ${from.origin}`);
  return to;
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) throw new Error('document too large');
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new Error('document too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
