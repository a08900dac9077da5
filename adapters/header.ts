import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { parseOptions } from './options.js';
import type { Adapter, AdapterContext, Credential } from './types.js';

const headerOptions = z.strictObject({
  adapter: z.literal('header'),
  ttl: z.number().int().positive(),
  header: z
    .string()
    .regex(/^[A-Za-z0-9!#$%&'*+.^`|~-]+$/, 'must be an HTTP header name')
    .transform((h) => h.toLowerCase()),
  value: secretRef,
  template: z.string().includes('{secret}', { message: 'must contain {secret}' }).default('{secret}'),
});

/** `header`: a static API key (from env:/file:) put in one header, optionally through a template. */
export function createHeaderAdapter(options: Record<string, unknown>, context: AdapterContext): Adapter {
  const { header, value, template, ttl } = parseOptions(headerOptions, options, context.path);
  const secretOf = () => context.resolveSecret(value);
  secretOf(); // fail at start, not on the first request, when the reference does not resolve
  return {
    kind: 'header',
    async issue(scope): Promise<Credential> {
      const secret = secretOf();
      const wire = template.replaceAll('{secret}', secret);
      return { fields: { secret }, ttlSeconds: Math.min(ttl, scope.ttlSeconds), wireForms: [secret, wire] };
    },
    inject(request, credential) {
      request.headers[header] = template.replaceAll('{secret}', credential.fields.secret ?? '');
    },
  };
}
