import { describe, expect, it } from 'vitest';
import { claimAt, principalClaims } from '../../../gateway/identity/claims.js';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import { bearer, identityConfig, makeKey, sign, writeJwks } from '../../identity/support.js';

const k8s = {
  iss: 'https://k8s.example',
  sub: 'system:serviceaccount:payments:agent',
  'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'agent', uid: 'u-1' } },
  groups: ['ops', 'payments'],
  email: 'private@example.org',
  nested: { a: 1 },
};

describe('only mapped and standard claims reach Cedar, read by dotted paths', () => {
  it('reads claim names that contain dots', () => {
    expect(claimAt(k8s, 'kubernetes.io.namespace')).toBe('payments');
    expect(claimAt(k8s, 'kubernetes.io.serviceaccount.name')).toBe('agent');
    expect(claimAt(k8s, 'kubernetes.missing')).toBeUndefined();
  });

  it('maps claimTags, keeps the standard ones, drops everything else and values with no tag form', () => {
    const claims = principalClaims(k8s, { ns: 'kubernetes.io.namespace', groups: 'groups', obj: 'nested' });
    expect(claims).toEqual({ iss: 'https://k8s.example', ns: 'payments', groups: ['ops', 'payments'] });
    expect(Object.isFrozen(claims)).toBe(true);
  });

  it('a tag named __proto__ is an own property, not a prototype', () => {
    const claims = principalClaims({ g: ['x'] }, JSON.parse('{"__proto__":"g"}') as Record<string, string>);
    expect(Object.getPrototypeOf(claims)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(claims, '__proto__')?.value).toEqual(['x']);
  });
});

describe('requiredClaims must be present and equal (or contained in a list claim)', () => {
  it('accepts, then refuses missing and mismatching claims', async () => {
    const key = await makeKey('rc');
    const { dir, file } = await writeJwks({ keys: [key.jwk] });
    const verifier = await createIdentityVerifier(
      identityConfig([
        {
          name: 'k8s',
          principal: 'Agent',
          issuer: 'https://k8s.example',
          audience: 'escrow',
          jwks: `file:${file}`,
          requiredClaims: { 'kubernetes.io.namespace': 'payments', groups: 'ops' },
        },
      ]),
      { baseDir: dir },
    );
    const token = (extra: Record<string, unknown>) => sign(key, { ...k8s, aud: 'escrow', ...extra });
    await expect(verifier.verify(bearer(await token({})))).resolves.toMatchObject({ id: k8s.sub });
    await expect(verifier.verify(bearer(await token({ groups: ['dev'] })))).rejects.toMatchObject({
      reason: 'claim_mismatch',
    });
    await expect(verifier.verify(bearer(await token({ 'kubernetes.io': {} })))).rejects.toMatchObject({
      reason: 'claim_missing',
    });
  });
});
