import { z } from 'zod';
import { formatIssues } from '../gateway/config/issues.js';
import { EscrowError } from '../gateway/errors.js';
import type { AdapterContext } from './types.js';

/** Validate adapter options with a strict schema; errors name the config path (`targets[0].credential.header`). */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, path: string): z.output<S> {
  const result = schema.safeParse(options);
  if (!result.success) {
    const issues = result.error.issues.map((issue) =>
      // An absent enum or literal reads "invalid option" in zod; say what it is.
      issue.code !== 'unrecognized_keys' && valueAt(options, issue.path) === undefined
        ? { ...issue, message: 'required' }
        : issue,
    );
    throw new EscrowError('config_invalid', formatIssues(issues, path));
  }
  return result.data;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** `ttl`: seconds, the longest a credential from this adapter lives (the config schema supplies the default). */
export const ttlOption = z.number().int().positive().max(86_400);

/** An HTTP header name, kept lower-case as `UpstreamRequest.headers` is. */
export const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^`|~-]+$/, 'must be an HTTP header name')
  .transform((h) => h.toLowerCase());

/** An http:// or https:// URL without userinfo (secrets belong in secret references, not URLs). */
export const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL')
  .refine((u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password), 'must not carry userinfo');

/** Timeout for calls to token endpoints and management APIs, milliseconds. */
export const timeoutOption = z.number().int().positive().max(120_000).default(10_000);

/** Precompile `Bearer {token}` into a function: inject runs per request, so no per-call parsing or regex. */
export function compileTemplate(template: string, placeholder: string): (value: string) => string {
  const parts = template.split(placeholder);
  return (value) => parts.join(value);
}

/** Resolve a secret reference at start, so a missing variable or file stops start-up naming the option. */
export function resolveAtStart(context: AdapterContext, ref: string, key: string): string {
  try {
    return context.resolveSecret(ref);
  } catch (error) {
    if (!(error instanceof EscrowError)) throw error;
    throw new EscrowError(error.code, `${context.path}.${key}: ${error.message}`, {
      cause: error.cause,
      reason: error.reason,
    });
  }
}
