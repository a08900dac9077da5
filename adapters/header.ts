import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { compileTemplate, headerName, parseOptions, resolveAtStart, ttlOption } from './options.js';
import type { Adapter, AdapterContext, Credential } from './types.js';

const headerOptions = z.strictObject({
  adapter: z.literal('header'),
  ttl: ttlOption,
  header: headerName,
  value: secretRef,
  template: z.string().includes('{secret}', { message: 'must contain {secret}' }).default('{secret}'),
});

/** `header`: a static API key (from env:/file:) put in one header, optionally through a template. */
export function createHeaderAdapter(options: Record<string, unknown>, context: AdapterContext): Adapter {
  const { header, value, template, ttl } = parseOptions(headerOptions, options, context.path);
  const secretOf = () => context.resolveSecret(value);
  resolveAtStart(context, value, 'value'); // fail at start, not on the first request
  const render = compileTemplate(template, '{secret}');
  return {
    kind: 'header',
    async issue(scope): Promise<Credential> {
      const secret = secretOf();
      return { fields: { secret }, ttlSeconds: Math.min(ttl, scope.ttlSeconds), wireForms: [secret, render(secret)] };
    },
    inject(request, credential) {
      request.headers[header] = render(credential.fields.secret ?? '');
    },
  };
}
