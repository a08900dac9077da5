import { createSign, KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { identitySchema } from '../../gateway/config/identity-schema.js';
import type { IdentityInput } from '../../gateway/identity/types.js';

/** A real signing key and its public JWK. */
export interface TestKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  readonly jwk: JWK;
}

export async function makeKey(kid: string, alg = 'ES256', extra: Partial<JWK> = {}): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, ...extra };
  return { kid, alg, privateKey, jwk };
}

/** Sign `claims` with `key`; `iat`/`exp` default to now and now + 5 minutes. */
export function sign(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const nowSeconds = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: nowSeconds, exp: nowSeconds + 300, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

/** Identity input as Node's server would give it for these headers (every value kept). */
export function input(headers: Record<string, string | string[]>, extra: Partial<IdentityInput> = {}): IdentityInput {
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) rawHeaders.push(name, one);
  }
  return { rawHeaders, ...extra };
}

export const bearer = (token: string): IdentityInput => input({ authorization: `Bearer ${token}` });

/** Validated identity config, as the lead's config loader would produce it. */
export function identityConfig(issuers: Record<string, unknown>[], rest: Record<string, unknown> = {}) {
  return identitySchema.parse({ issuers, ...rest });
}

/** Write a JWK Set (or SPIFFE bundle) to a fresh temp dir; returns that dir and the file name. */
export async function writeJwks(document: unknown): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'escrow-identity-'));
  await writeFile(join(dir, 'jwks.json'), JSON.stringify(document));
  return { dir, file: 'jwks.json' };
}

/** A JWKS endpoint on port 0 whose key set, availability and request count the test controls. */
export interface JwksServer {
  readonly url: string;
  readonly origin: string;
  keys: JWK[];
  extra: Record<string, unknown>;
  down: boolean;
  /** When set, `/jwks` answers 302 to this location. */
  redirect: string | undefined;
  /** When set, served at `/.well-known/openid-configuration`. */
  discovery: Record<string, unknown> | undefined;
  requests: number;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state = {
    keys,
    extra: {} as Record<string, unknown>,
    down: false,
    redirect: undefined as string | undefined,
    discovery: undefined as Record<string, unknown> | undefined,
    requests: 0,
  };
  const server: Server = createServer((req, res) => {
    state.requests += 1;
    if (state.down) return void res.writeHead(503).end();
    if (req.url === '/.well-known/openid-configuration' && state.discovery) {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state.discovery));
    }
    if (state.redirect && req.url === '/jwks') return void res.writeHead(302, { location: state.redirect }).end();
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ keys: state.keys, ...state.extra }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/jwks`,
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** A clock the test moves by hand (epoch milliseconds). */
export function manualClock(start = Date.now()) {
  let current = start;
  return {
    now: () => current,
    advance: (seconds: number) => {
      current += seconds * 1000;
    },
    seconds: () => Math.floor(current / 1000),
  };
}

/** Retry `attempt` until it resolves (for background work such as a JWKS refresh), or rethrow after ~2 s. */
export async function eventually<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= 200) throw error;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * Sign exactly these header and payload texts (or pre-encoded segments), bypassing jose's encoder, so a test
 * can produce duplicate members or non-canonical base64url that still carries a valid signature.
 */
export function signRaw(
  key: TestKey,
  header: string | { encoded: string },
  payload: string | { encoded: string },
): string {
  const h = typeof header === 'string' ? Buffer.from(header).toString('base64url') : header.encoded;
  const p = typeof payload === 'string' ? Buffer.from(payload).toString('base64url') : payload.encoded;
  const signature = createSign('sha256')
    .update(`${h}.${p}`)
    .sign({ key: KeyObject.from(key.privateKey), dsaEncoding: 'ieee-p1363' });
  return `${h}.${p}.${signature.toString('base64url')}`;
}

export const b64url = (text: string | Buffer): string => Buffer.from(text).toString('base64url');
