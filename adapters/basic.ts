import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { parseOptions, resolveAtStart, ttlOption } from './options.js';
import type { Adapter, AdapterContext, Credential } from './types.js';

const basicOptions = z.strictObject({
  adapter: z.literal('basic'),
  ttl: ttlOption,
  username: z
    .string()
    .min(1)
    .refine((u) => !u.includes(':'), 'must not contain ":" (RFC 7617)'),
  password: secretRef,
});

/** `basic`: `Authorization: Basic base64(username:password)`, the password from env:/file:. */
export function createBasicAdapter(options: Record<string, unknown>, context: AdapterContext): Adapter {
  const { username, password, ttl } = parseOptions(basicOptions, options, context.path);
  resolveAtStart(context, password, 'password'); // fail at start, not on the first request
  return {
    kind: 'basic',
    async issue(scope): Promise<Credential> {
      const secret = context.resolveSecret(password);
      const encoded = Buffer.from(`${username}:${secret}`).toString('base64');
      return {
        fields: { username, password: secret },
        ttlSeconds: Math.min(ttl, scope.ttlSeconds),
        wireForms: [secret, encoded, `${username}:${secret}`],
      };
    },
    inject(request, credential) {
      const { username: user = '', password: pass = '' } = credential.fields;
      request.headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    },
  };
}
