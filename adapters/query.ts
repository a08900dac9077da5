import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { parseOptions, resolveAtStart, ttlOption } from './options.js';
import type { Adapter, AdapterContext, Credential } from './types.js';

const queryOptions = z.strictObject({
  adapter: z.literal('query'),
  ttl: ttlOption,
  param: z.string().min(1).max(128),
  value: secretRef,
});

/** A query parameter's name as the upstream will read it: percent-decoded, `+` as a space. */
function decodedName(pair: string): string {
  const eq = pair.indexOf('=');
  const raw = eq === -1 ? pair : pair.slice(0, eq);
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw; // malformed escapes: compare as written
  }
}

/** The forms a secret takes in a URL: as is, percent-encoded, and form-encoded (`+` for spaces). */
function urlForms(secret: string): string[] {
  const forms = [secret, encodeURIComponent(secret), new URLSearchParams({ v: secret }).toString().slice(2)];
  return [...new Set(forms)];
}

/**
 * `query`: an API key in a query parameter (`?api_key=…`). Any parameter of the same name the agent sent is
 * removed first, so the upstream cannot be handed the agent's value beside or instead of Escrow's.
 */
export function createQueryAdapter(options: Record<string, unknown>, context: AdapterContext): Adapter {
  const { param, value, ttl } = parseOptions(queryOptions, options, context.path);
  resolveAtStart(context, value, 'value'); // fail at start, not on the first request
  const prefix = `${encodeURIComponent(param)}=`;
  return {
    kind: 'query',
    async issue(scope): Promise<Credential> {
      const secret = context.resolveSecret(value);
      return { fields: { secret }, ttlSeconds: Math.min(ttl, scope.ttlSeconds), wireForms: urlForms(secret) };
    },
    inject(request, credential) {
      const q = request.path.indexOf('?');
      const pathname = q === -1 ? request.path : request.path.slice(0, q);
      const pairs = q === -1 ? [] : request.path.slice(q + 1).split('&');
      const kept = pairs.filter((pair) => pair !== '' && decodedName(pair) !== param);
      kept.push(prefix + encodeURIComponent(credential.fields.secret ?? ''));
      request.path = `${pathname}?${kept.join('&')}`;
    },
  };
}
