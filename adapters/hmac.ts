import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { headerName, parseOptions, resolveAtStart, ttlOption } from './options.js';
import type { Adapter, AdapterContext, Credential, UpstreamRequest } from './types.js';

const hmacOptions = z.strictObject({
  adapter: z.literal('hmac'),
  ttl: ttlOption,
  keyId: z.string().regex(/^[^"\\\r\n]+$/, 'must not contain quotes, backslashes or line breaks'),
  secret: secretRef,
  algorithm: z.enum(['sha256', 'sha512']).default('sha256'),
  header: headerName.default('authorization'),
  /** Scheme before the parameters when `header` is `authorization`. */
  scheme: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'must be a single token')
    .default('HMAC'),
  /** `digest` (`SHA-256=<b64>`, RFC 3230) or `content-digest` (`sha-256=:<b64>:`, RFC 9530). */
  digestHeader: z.enum(['digest', 'content-digest']).default('digest'),
  /** Request headers signed after `(request-target) date <digest>`, if present on the request. */
  signedHeaders: z.array(headerName).default([]),
});

type HmacOptions = z.output<typeof hmacOptions>;

function headerValue(request: UpstreamRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function digestOf(body: Buffer | undefined, header: HmacOptions['digestHeader']): string {
  const sha = createHash('sha256')
    .update(body ?? Buffer.alloc(0))
    .digest('base64');
  return header === 'digest' ? `SHA-256=${sha}` : `sha-256=:${sha}:`;
}

/**
 * Builds the signature header from precomputed parts: inject runs on every request. `Date` is always Escrow's
 * own clock: an agent that could choose it would get a signature valid at a time of its choosing, to replay later.
 * Returns the signature, which Escrow then scrubs from responses like a secret.
 */
function signer(o: HmacOptions, now: () => number) {
  const fixed = ['date', o.digestHeader].filter((name) => !o.signedHeaders.includes(name));
  const order = [...fixed, ...o.signedHeaders.filter((name) => name !== '(request-target)')];
  const prefix = o.header === 'authorization' ? `${o.scheme} ` : '';
  const params = `keyId="${o.keyId}",algorithm="hmac-${o.algorithm}"`;
  return (request: UpstreamRequest, secret: string): string => {
    request.headers.date = new Date(now()).toUTCString();
    request.headers[o.digestHeader] = digestOf(request.body, o.digestHeader);
    const names = ['(request-target)'];
    const lines = [`(request-target): ${request.method.toLowerCase()} ${request.path}`];
    for (const name of order) {
      const value = headerValue(request, name);
      if (value === undefined) continue; // a signed header the request lacks is left out of `headers=`
      names.push(name);
      lines.push(`${name}: ${value}`);
    }
    const signature = createHmac(o.algorithm, secret).update(lines.join('\n')).digest('base64');
    request.headers[o.header] = `${prefix}${params},headers="${names.join(' ')}",signature="${signature}"`;
    return signature;
  };
}

/**
 * `hmac`: signs each request (draft-cavage HTTP Signatures style) over the request target, `date` (always Escrow's),
 * the body digest and any `signedHeaders`. The secret itself never travels; it is still listed as a wire form so
 * the scrubber removes it should an upstream ever echo it, and each signature is returned to be scrubbed too.
 */
export function createHmacAdapter(options: Record<string, unknown>, context: AdapterContext): Adapter {
  const o = parseOptions(hmacOptions, options, context.path);
  resolveAtStart(context, o.secret, 'secret'); // fail at start, not on the first request
  const sign = signer(o, context.now);
  return {
    kind: 'hmac',
    needsBody: true,
    async issue(scope): Promise<Credential> {
      const secret = context.resolveSecret(o.secret);
      return { fields: { secret }, ttlSeconds: Math.min(o.ttl, scope.ttlSeconds), wireForms: [secret] };
    },
    inject(request, credential) {
      return [sign(request, credential.fields.secret ?? '')];
    },
  };
}
