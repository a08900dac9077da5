import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EscrowError } from '../../../gateway/errors.js';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import type { IdentityVerifier } from '../../../gateway/identity/types.js';
import {
  b64url,
  bearer,
  identityConfig,
  input,
  type JwksServer,
  makeKey,
  sign,
  signRaw,
  startJwksServer,
  type TestKey,
} from '../../identity/support.js';

const CANARY = 'canary-7f3a9c1e-token-must-never-leak';
const ISS = 'https://idp.example';
const now = () => Math.floor(Date.now() / 1000);

describe('every known JWT attack is refused with its own stable reason, and no error echoes the token', () => {
  let key: TestKey;
  let attacker: TestKey;
  let server: JwksServer;
  let verifier: IdentityVerifier;
  const seen: unknown[] = [];

  const claims = () => ({ iss: ISS, aud: 'escrow', sub: `agent-${CANARY}`, iat: now(), exp: now() + 300 });
  const header = (extra: Record<string, unknown> = {}) => JSON.stringify({ alg: 'ES256', kid: 'k1', ...extra });

  async function rejects(token: string | ReturnType<typeof input>, reason: string): Promise<void> {
    const request = typeof token === 'string' ? bearer(token) : token;
    const error = await verifier.verify(request).then(
      () => undefined,
      (e: unknown) => e,
    );
    seen.push(error);
    expect(error).toBeInstanceOf(EscrowError);
    expect((error as EscrowError).reason).toBe(reason);
  }

  beforeAll(async () => {
    key = await makeKey('k1');
    attacker = await makeKey('k1');
    server = await startJwksServer([key.jwk]);
    verifier = await createIdentityVerifier(
      identityConfig([
        { name: 'idp', principal: 'Agent', issuer: ISS, audience: 'escrow', jwks: server.url, typ: 'JWT' },
      ]),
      { baseDir: '/' },
    );
  });
  afterAll(async () => {
    verifier.close();
    await server.close();
    // The canary sits in every token's `sub`; no message, reason, cause or serialised form may carry it.
    for (const error of seen) {
      const e = error as EscrowError;
      const texts = [e.message, e.reason, String(e.cause), JSON.stringify(e), JSON.stringify(e.cause), e.stack];
      for (const text of texts) expect(text ?? '').not.toContain(CANARY);
    }
    expect(seen.length).toBeGreaterThan(20);
  });

  it('accepts the honest token (control)', async () => {
    const principal = await verifier.verify(bearer(await sign(key, claims())));
    expect(principal.id).toBe(`agent-${CANARY}`);
  });

  it.each(['none', 'None', 'NONE', 'nOnE'])('alg %s', async (alg) => {
    await rejects(
      `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url(JSON.stringify(claims()))}.`,
      'algorithm_not_allowed',
    );
  });

  it('stripped signature', async () => {
    const [h, p] = (await sign(key, claims())).split('.');
    await rejects(`${h}.${p}.`, 'bad_signature');
  });

  it('HS256 signed with the public key as HMAC secret', async () => {
    const h = b64url(JSON.stringify({ alg: 'HS256', kid: 'k1', typ: 'JWT' }));
    const p = b64url(JSON.stringify(claims()));
    const mac = createHmac('sha256', JSON.stringify(key.jwk)).update(`${h}.${p}`).digest('base64url');
    await rejects(`${h}.${p}.${mac}`, 'algorithm_not_allowed');
  });

  it('embedded jwk header carrying the attacker key', async () => {
    await rejects(await sign(attacker, claims(), { jwk: attacker.jwk }), 'header_not_allowed');
  });

  it.each(['jku', 'x5u'])('%s header pointing at attacker keys', async (name) => {
    await rejects(await sign(attacker, claims(), { [name]: 'https://attacker.example/keys' }), 'header_not_allowed');
  });

  it('unknown crit extension', async () => {
    const h = header({ typ: 'JWT', crit: ['urn:x-unknown'], 'urn:x-unknown': true });
    await rejects(signRaw(key, h, JSON.stringify(claims())), 'header_not_allowed');
  });

  it('ES256 signature r=s=0 (CVE-2022-21449, psychic signatures)', async () => {
    const [h, p] = (await sign(key, claims())).split('.');
    await rejects(`${h}.${p}.${b64url(Buffer.alloc(64))}`, 'bad_signature');
  });

  it('duplicate sub member, validly signed', async () => {
    const body = JSON.stringify(claims()).replace('{', '{"sub":"someone-else",');
    await rejects(signRaw(key, header({ typ: 'JWT' }), body), 'token_malformed');
  });

  it('duplicate alg member in the header (escaped spelling), validly signed', async () => {
    await rejects(
      signRaw(key, `{"alg":"none","\\u0061lg":"ES256","kid":"k1","typ":"JWT"}`, JSON.stringify(claims())),
      'token_malformed',
    );
  });

  it('padded base64url, validly signed over the padded text', async () => {
    const encoded = `${b64url(JSON.stringify(claims()))}`;
    const padded = encoded + '='.repeat((4 - (encoded.length % 4)) % 4 || 4);
    await rejects(signRaw(key, header({ typ: 'JWT' }), { encoded: padded }), 'token_malformed');
  });

  it('spaces inside a segment', async () => {
    const [h, p, s] = (await sign(key, claims())).split('.');
    await rejects(input({ authorization: `Bearer ${h}.${p?.slice(0, 4)} ${p?.slice(4)}.${s}` }), 'token_malformed');
  });

  it('non-canonical trailing bits in base64url', async () => {
    const [h, p, s] = (await sign(key, claims())).split('.') as [string, string, string];
    // A 64-byte signature encodes to 86 chars; the last one carries 4 unused bits. Flip one of them.
    const last = s.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[alphabet.indexOf(last) ^ 1] as string;
    await rejects(`${h}.${p}.${s.slice(0, -1)}${twin}`, 'token_malformed');
  });

  it('wrong audience', async () => {
    await rejects(await sign(key, { ...claims(), aud: 'someone-else' }), 'audience_mismatch');
  });

  it('wrong issuer', async () => {
    await rejects(await sign(key, { ...claims(), iss: 'https://evil.example' }), 'unknown_issuer');
  });

  it('expired', async () => {
    await rejects(await sign(key, { ...claims(), iat: now() - 600, exp: now() - 120 }), 'token_expired');
  });

  it('nbf ahead', async () => {
    await rejects(await sign(key, { ...claims(), nbf: now() + 600 }), 'token_not_yet_valid');
  });

  it('exp ten years out', async () => {
    await rejects(await sign(key, { ...claims(), exp: now() + 10 * 365 * 86_400 }), 'token_lifetime_too_long');
  });

  it('issued too long ago', async () => {
    await rejects(await sign(key, { ...claims(), iat: now() - 2 * 86_400 }), 'token_too_old');
  });

  it('missing exp', async () => {
    const { exp: _exp, ...rest } = claims();
    await rejects(signRaw(key, header({ typ: 'JWT' }), JSON.stringify(rest)), 'claim_missing');
  });

  it('unknown kid', async () => {
    await rejects(await sign(attacker, claims(), { kid: 'nobody' }), 'unknown_key');
  });

  it('known kid, wrong key', async () => {
    await rejects(await sign(attacker, claims()), 'bad_signature');
  });

  it('wrong typ', async () => {
    await rejects(await sign(key, claims(), { typ: 'at+jwt' }), 'typ_mismatch');
  });

  it('token larger than maxTokenBytes', async () => {
    await rejects(await sign(key, { ...claims(), pad: 'x'.repeat(9_000) }), 'token_too_large');
  });

  it('two Authorization headers', async () => {
    const token = await sign(key, claims());
    await rejects(input({ authorization: [`Bearer ${token}`, `Bearer ${token}`] }), 'duplicate_header');
  });

  it('no token at all is identity_missing', async () => {
    await rejects(input({}), 'token_missing');
    expect((seen.at(-1) as EscrowError).code).toBe('identity_missing');
  });

  it('a non-Bearer Authorization scheme', async () => {
    await rejects(input({ authorization: `Basic ${b64url(CANARY)}` }), 'token_malformed');
  });

  it('four segments', async () => {
    await rejects(`${await sign(key, claims())}.${b64url(CANARY)}`, 'token_malformed');
  });
});
