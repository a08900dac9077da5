import { createPrivateKey, type KeyObject, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { secretRef } from '../gateway/config/schema.js';
import { EscrowError } from '../gateway/errors.js';
import { badField, callEndpoint, jsonObject, refused } from './endpoint.js';
import { httpUrl, parseOptions, resolveAtStart, timeoutOption, ttlOption } from './options.js';
import { expiresInField, leaseTtl, tokenField, tokenHeaderOptions, tokenInjector } from './token.js';
import type { Adapter, AdapterContext, Credential } from './types.js';

interface KeyNeed {
  readonly types: readonly string[];
  readonly curve?: string;
}

/** Each algorithm and the key it needs: the `createPrivateKey` key type and, for ECDSA, the curve. */
const ALGORITHMS = {
  RS256: { types: ['rsa'] },
  RS384: { types: ['rsa'] },
  RS512: { types: ['rsa'] },
  PS256: { types: ['rsa', 'rsa-pss'] },
  PS384: { types: ['rsa', 'rsa-pss'] },
  PS512: { types: ['rsa', 'rsa-pss'] },
  ES256: { types: ['ec'], curve: 'prime256v1' },
  ES384: { types: ['ec'], curve: 'secp384r1' },
  ES512: { types: ['ec'], curve: 'secp521r1' },
  EdDSA: { types: ['ed25519', 'ed448'] },
} as const satisfies Record<string, KeyNeed>;

type Algorithm = keyof typeof ALGORITHMS;

const jwtBearerOptions = z.strictObject({
  adapter: z.literal('jwt-bearer'),
  ttl: ttlOption,
  tokenUrl: httpUrl,
  issuer: z.string().min(1),
  subject: z.string().min(1).optional(),
  audience: z.string().min(1).optional(),
  privateKey: secretRef,
  algorithm: z.enum(Object.keys(ALGORITHMS) as [Algorithm, ...Algorithm[]]),
  keyId: z.string().min(1).optional(),
  claims: z.record(z.string(), z.unknown()).default({}),
  mode: z.enum(['rfc7523', 'github-app']).default('rfc7523'),
  /** RFC 7523 only: the `scope` form parameter. */
  scope: z.string().min(1).optional(),
  /** GitHub App only: JSON body narrowing the installation token (`repositories`, `permissions`). */
  tokenRequest: z.record(z.string(), z.unknown()).optional(),
  ...tokenHeaderOptions,
  timeoutMs: timeoutOption,
});

type JwtBearerOptions = z.output<typeof jwtBearerOptions>;

/** The PEM as a signing key, checked against the algorithm now so a mismatch stops start-up. */
function signingKey(pem: string, algorithm: Algorithm, path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    // No cause: a parser error could quote the bytes it choked on.
    throw new EscrowError('config_invalid', `${path}.privateKey: not a PEM private key`);
  }
  const need: KeyNeed = ALGORITHMS[algorithm];
  const fits = need.types.includes(key.asymmetricKeyType ?? '');
  if (!fits || (need.curve !== undefined && key.asymmetricKeyDetails?.namedCurve !== need.curve)) {
    throw new EscrowError(
      'config_invalid',
      `${path}.privateKey: a ${key.asymmetricKeyType} key cannot sign ${algorithm}`,
    );
  }
  return key;
}

/** The assertion: short-lived (60 s), one-time (`jti`). GitHub asks for `iat` 60 s in the past. */
function assertion(o: JwtBearerOptions, key: KeyObject, nowMs: number): Promise<string> {
  const now = Math.floor(nowMs / 1000);
  const github = o.mode === 'github-app';
  const jwt = new SignJWT({ ...o.claims })
    .setProtectedHeader(o.keyId === undefined ? { alg: o.algorithm } : { alg: o.algorithm, kid: o.keyId })
    .setIssuer(o.issuer)
    .setIssuedAt(github ? now - 60 : now)
    .setExpirationTime(github ? now + 540 : now + 60);
  if (!github)
    jwt
      .setSubject(o.subject ?? o.issuer)
      .setAudience(o.audience ?? o.tokenUrl)
      .setJti(randomUUID());
  return jwt.sign(key);
}

interface Exchange {
  readonly token: string;
  readonly expiresInSeconds: number | undefined;
}

async function exchangeRfc7523(o: JwtBearerOptions, url: URL, jwt: string): Promise<Exchange> {
  const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt });
  if (o.scope !== undefined) form.set('scope', o.scope);
  const answer = await callEndpoint(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form.toString(),
    timeoutMs: o.timeoutMs,
  });
  if (answer.status !== 200) throw refused(url, answer, 'the jwt-bearer grant');
  const json = jsonObject(url, answer);
  return { token: tokenField(url, json, 'access_token'), expiresInSeconds: expiresInField(url, json) };
}

async function exchangeGithubApp(o: JwtBearerOptions, url: URL, jwt: string, nowMs: number): Promise<Exchange> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${jwt}`,
    accept: 'application/vnd.github+json',
    'x-github-api-version': '2022-11-28',
    'user-agent': 'escrow',
  };
  if (o.tokenRequest !== undefined) headers['content-type'] = 'application/json';
  const body = o.tokenRequest === undefined ? undefined : JSON.stringify(o.tokenRequest);
  const answer = await callEndpoint(url, { method: 'POST', headers, body, timeoutMs: o.timeoutMs });
  if (answer.status !== 201 && answer.status !== 200) throw refused(url, answer, 'the GitHub App token request');
  const json = jsonObject(url, answer);
  const expiresAt = typeof json.expires_at === 'string' ? Date.parse(json.expires_at) : Number.NaN;
  if (Number.isNaN(expiresAt)) throw badField(url, 'expires_at');
  return { token: tokenField(url, json, 'token'), expiresInSeconds: Math.max(0, (expiresAt - nowMs) / 1000) };
}

/**
 * `jwt-bearer`: signs a short assertion with a private key and exchanges it for an access token, either as
 * an RFC 7523 grant or the GitHub App way (the app JWT as a bearer token, `token` + `expires_at` back).
 */
export function createJwtBearerAdapter(options: Record<string, unknown>, context: AdapterContext): Adapter {
  const o = parseOptions(jwtBearerOptions, options, context.path);
  signingKey(resolveAtStart(context, o.privateKey, 'privateKey'), o.algorithm, context.path);
  const url = new URL(o.tokenUrl);
  const injector = tokenInjector(o.header, o.template);

  return {
    kind: 'jwt-bearer',
    async issue(scope): Promise<Credential> {
      // Read the key per issue so a rotated key file is picked up without a restart.
      const key = signingKey(context.resolveSecret(o.privateKey), o.algorithm, context.path);
      const now = context.now();
      const jwt = await assertion(o, key, now);
      const { token, expiresInSeconds } =
        o.mode === 'github-app' ? await exchangeGithubApp(o, url, jwt, now) : await exchangeRfc7523(o, url, jwt);
      if (expiresInSeconds !== undefined && expiresInSeconds < 1) throw badField(url, 'expires_at');
      return injector.credential(token, leaseTtl(expiresInSeconds, o.ttl, scope.ttlSeconds));
    },
    inject: injector.inject,
  };
}
