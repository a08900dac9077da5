import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog, hashSecret, looksLikeJwt } from '../../../gateway/audit/index.js';
import { Secret } from '../../../gateway/secret.js';
import { HMAC_KEY, readLines, tempDir } from './helpers.js';

const CANARY = 'canary-secret-9d41f0c7e2';
/** A real-shaped JWS: header `{"alg":"ES256","typ":"JWT"}`, a payload and a signature segment. */
const TOKEN = [
  Buffer.from('{"alg":"ES256","typ":"JWT"}').toString('base64url'),
  Buffer.from('{"sub":"spiffe://example.org/agent","canary":"tok-5e1a"}').toString('base64url'),
  'c2lnbmF0dXJlLWJ5dGVzLWNhbmFyeQ',
].join('.');

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

describe('a canary secret passed to fingerprint never appears in the written lines', () => {
  it('writes only the keyed fingerprint', async () => {
    const path = `${dir}/audit.jsonl`;
    const log = createAuditLog({ hmacKey: HMAC_KEY, sinks: [`file:${path}`], failMode: 'closed' });
    const fingerprint = log.fingerprint(CANARY);
    expect(fingerprint).toBe(hashSecret(CANARY, HMAC_KEY));
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
    log.record({ event: 'lease.issued', leaseId: 'l-1', target: 'echo', secretFingerprint: fingerprint });
    log.record({ event: 'request', leaseId: 'l-1', credential: new Secret(CANARY) });
    await log.close();
    const text = (await readLines(path)).join('\n');
    expect(text).toContain(fingerprint);
    expect(text).toContain('"credential":"<redacted>"');
    expect(text).not.toContain(CANARY);
  });

  it('gives a different fingerprint under another deployment key', () => {
    expect(hashSecret(CANARY, HMAC_KEY)).not.toBe(hashSecret(CANARY, `${HMAC_KEY}-other`));
  });
});

describe('a string that looks like a JWT is refused at any depth, and the refusal is recorded', () => {
  it('drops the field, names it in `refused` and warns', async () => {
    const path = `${dir}/audit.jsonl`;
    const warned: string[] = [];
    const log = createAuditLog({
      hmacKey: HMAC_KEY,
      sinks: [`file:${path}`],
      failMode: 'closed',
      onRefusedField: (field, event) => warned.push(`${event}:${field}`),
    });
    log.record({
      event: 'identity.rejected',
      reason: 'token_expired',
      detail: `Bearer ${TOKEN}`,
      principal: { type: 'Agent', id: TOKEN, issuer: 'spire' },
      policies: ['ok', TOKEN],
      claims: { [TOKEN]: 'x' },
    });
    await log.close();
    const [line] = await readLines(path);
    expect(line).not.toContain(TOKEN);
    expect(line).not.toContain('tok-5e1a');
    const event = JSON.parse(line as string);
    expect(event).toMatchObject({
      reason: 'token_expired',
      principal: { type: 'Agent', issuer: 'spire' },
      policies: ['ok'],
    });
    expect(event.refused).toEqual(['detail', 'principal.id', 'policies[1]', 'claims.<token-named member>']);
    expect(event.claims).toEqual({});
    expect(warned).toEqual([
      'identity.rejected:detail',
      'identity.rejected:principal.id',
      'identity.rejected:policies[1]',
      'identity.rejected:claims.<token-named member>',
    ]);
  });

  it('keeps dotted names that are not tokens', () => {
    for (const text of [
      'api.example.org',
      'policy.allow.read',
      'lease.issued',
      'v1.2.3',
      'spiffe://example.org/a.b.c',
    ]) {
      expect(looksLikeJwt(text)).toBe(false);
    }
    expect(looksLikeJwt(TOKEN)).toBe(true);
    expect(looksLikeJwt(`${TOKEN.split('.').slice(0, 2).join('.')}.`)).toBe(true);
  });
});
