/** Shared by adapters that mint an access token and inject it as `Authorization: Bearer {token}`. */
import { z } from 'zod';
import { badField } from './endpoint.js';
import { compileTemplate, headerName } from './options.js';
import type { Credential, UpstreamRequest } from './types.js';

/** Options for where the token goes: `header` (default `authorization`) and `template`. */
export const tokenHeaderOptions = {
  header: headerName.default('authorization'),
  /** Default: `Bearer {token}` in `authorization`, the bare token in any other header. */
  template: z.string().includes('{token}', { message: 'must contain {token}' }).optional(),
};

export interface TokenInjector {
  credential(token: string, ttlSeconds: number): Credential;
  inject(request: UpstreamRequest, credential: Credential): void;
}

/** Precompiles the header template once; `inject` is then a string join. */
export function tokenInjector(header: string, template: string | undefined): TokenInjector {
  const render = compileTemplate(template ?? (header === 'authorization' ? 'Bearer {token}' : '{token}'), '{token}');
  return {
    credential: (token, ttlSeconds) => ({ fields: { token }, ttlSeconds, wireForms: [token, render(token)] }),
    inject(request, credential) {
      request.headers[header] = render(credential.fields.token ?? '');
    },
  };
}

/**
 * A lease's life from a token's: a margin before the token's own expiry (10% of it, at most 30 s), never
 * beyond the configured ttl or the scope, and at least one second.
 */
export function leaseTtl(expiresInSeconds: number | undefined, configTtl: number, scopeTtl: number): number {
  const cap = Math.min(configTtl, scopeTtl);
  if (expiresInSeconds === undefined) return Math.max(1, cap);
  const margin = Math.min(30, Math.ceil(expiresInSeconds / 10));
  return Math.max(1, Math.min(cap, Math.floor(expiresInSeconds - margin)));
}

/** The token string at `field` of a token endpoint's answer. */
export function tokenField(url: URL, answer: Record<string, unknown>, field: string): string {
  const token = answer[field];
  if (typeof token !== 'string' || token.length === 0) throw badField(url, field);
  return token;
}

/** `expires_in` (seconds; some servers send a numeric string), or undefined when absent. */
export function expiresInField(url: URL, answer: Record<string, unknown>): number | undefined {
  const value = answer.expires_in;
  if (value === undefined || value === null) return undefined;
  const seconds = typeof value === 'string' ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) throw badField(url, 'expires_in');
  return seconds;
}
