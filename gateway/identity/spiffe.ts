/** SPIFFE IDs: `spiffe://<trust-domain>/<path>`, as the SPIFFE-ID specification defines them. */

export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_LENGTH = 2048;

/**
 * Parse a SPIFFE ID of a workload, or undefined when it is not one. Stricter than `new URL`: a lower-case
 * trust domain with no port or userinfo, no query or fragment, and a non-empty path whose segments are
 * neither empty nor `.`/`..` and use only the characters the specification allows (so no percent-encoding).
 */
export function parseSpiffeId(value: string): SpiffeId | undefined {
  if (value.length > MAX_LENGTH || !value.startsWith('spiffe://')) return undefined;
  const rest = value.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const trustDomain = rest.slice(0, slash);
  const path = rest.slice(slash);
  if (!TRUST_DOMAIN.test(trustDomain)) return undefined;
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (!PATH_SEGMENT.test(segment) || segment === '.' || segment === '..') return undefined;
  }
  return { trustDomain, path };
}
