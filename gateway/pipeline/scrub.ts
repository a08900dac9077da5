import type { NeedleIndex } from '../scrub/index.js';
import { scrubText } from '../scrub/stream.js';
import type { TargetRuntime } from '../targets.js';

/**
 * A redirect to the target's own origin and base path is rewritten to the Escrow path, so the agent stays in
 * its lane; any other is passed back as it is, minus userinfo. Escrow never follows redirects itself.
 */
export function rewriteLocation(location: string, target: TargetRuntime): string | undefined {
  let url: URL;
  try {
    url = new URL(location, `${target.origin}${target.basePath}/`);
  } catch {
    return undefined;
  }
  const base = target.basePath;
  if (url.origin === target.origin && (url.pathname === base || url.pathname.startsWith(`${base}/`) || base === '')) {
    const rest = url.pathname.slice(base.length) || '/';
    return `/${target.config.name}${rest}${url.search}${url.hash}`;
  }
  url.username = '';
  url.password = '';
  return url.href;
}

/**
 * Scrub every header value, then fix up `Location`: rewriting re-serialises the URL (`<` becomes `%3C`, the host is
 * lower-cased), which could turn a form of a secret into one no needle matches, so the rewrite works on the masked
 * value and its result is scrubbed again. Mutates and returns `headers`.
 */
export function finishResponseHeaders(
  headers: Record<string, string | string[]>,
  target: TargetRuntime,
  index: NeedleIndex,
): Record<string, string | string[]> {
  for (const [name, value] of Object.entries(headers)) {
    headers[name] = Array.isArray(value) ? value.map((v) => scrubText(index, v)) : scrubText(index, value);
  }
  const location = headers.location;
  if (typeof location === 'string') {
    const rewritten = rewriteLocation(location, target);
    if (rewritten === undefined) delete headers.location;
    else headers.location = scrubText(index, rewritten);
  } else if (Array.isArray(location)) {
    delete headers.location;
  }
  return headers;
}
