import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { callEndpoint, jsonObject, refused } from './endpoint.js';
import { httpUrl, parseOptions, resolveAtStart, timeoutOption, ttlOption } from './options.js';
import { expiresInField, leaseTtl, tokenField, tokenHeaderOptions, tokenInjector } from './token.js';
import type { Adapter, AdapterContext, Credential } from './types.js';

const oauth2Options = z.strictObject({
  adapter: z.literal('oauth2-client-credentials'),
  ttl: ttlOption,
  tokenUrl: httpUrl,
  clientId: z.string().min(1),
  clientSecret: secretRef,
  scope: z.string().min(1).optional(),
  /** Non-standard but common (Auth0, Okta): the API the token is for. */
  audience: z.string().min(1).optional(),
  /** RFC 8707 resource indicator. */
  resource: z.string().url().optional(),
  ...tokenHeaderOptions,
  timeoutMs: timeoutOption,
});

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 asks for the client id and secret in Basic auth. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/**
 * `oauth2-client-credentials`: each lease gets a freshly minted access token. The root client secret goes
 * only to the token endpoint (client_secret_basic); the upstream and the agent only ever see the token.
 */
export function createOauth2ClientCredentialsAdapter(
  options: Record<string, unknown>,
  context: AdapterContext,
): Adapter {
  const o = parseOptions(oauth2Options, options, context.path);
  resolveAtStart(context, o.clientSecret, 'clientSecret'); // fail at start, not on the first request
  const tokenUrl = new URL(o.tokenUrl);
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (o.scope !== undefined) form.set('scope', o.scope);
  if (o.audience !== undefined) form.set('audience', o.audience);
  if (o.resource !== undefined) form.set('resource', o.resource);
  const body = form.toString();
  const injector = tokenInjector(o.header, o.template);

  return {
    kind: 'oauth2-client-credentials',
    async issue(scope): Promise<Credential> {
      const basic = `${formEncode(o.clientId)}:${formEncode(context.resolveSecret(o.clientSecret))}`;
      const answer = await callEndpoint(tokenUrl, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(basic).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body,
        timeoutMs: o.timeoutMs,
      });
      if (answer.status !== 200) throw refused(tokenUrl, answer, 'the client credentials grant');
      const json = jsonObject(tokenUrl, answer);
      const token = tokenField(tokenUrl, json, 'access_token');
      return injector.credential(token, leaseTtl(expiresInField(tokenUrl, json), o.ttl, scope.ttlSeconds));
    },
    inject: injector.inject,
  };
}
