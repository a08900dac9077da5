import { describe, expect, it } from 'vitest';
import type { Credential } from '../../../adapters/types.js';
import { ExpiringCache } from '../../../gateway/cache.js';
import { SecretRegistry } from '../../../gateway/scrub/registry.js';
import { scrubText } from '../../../gateway/scrub/stream.js';
import { Secret } from '../../../gateway/secret.js';

const credential = (token: string): Secret<Credential> =>
  new Secret({ fields: { token }, ttlSeconds: 300, wireForms: [token, `Bearer ${token}`] });
const masked = (registry: SecretRegistry, value: string) => scrubText(registry.index, `[${value}]`) !== `[${value}]`;

describe('the secret registry holds every credential of the replica for exactly as long as it should', () => {
  it('follows the lease cache: added when cached, removed when revoked, replaced or evicted', () => {
    const registry = new SecretRegistry({ now: () => 0 });
    const cache = new ExpiringCache<Secret<Credential>>(2, () => 0, {
      added: (c) => registry.addCredential(c),
      removed: (c) => registry.removeCredential(c),
    });
    const [a, b, c, d] = [
      'tok-aaaaaaaaaaaaaaaa',
      'tok-bbbbbbbbbbbbbbbb',
      'tok-cccccccccccccccc',
      'tok-dddddddddddddddd',
    ];
    cache.set('t1:x', credential(a), 1_000);
    cache.set('t2:x', credential(b), 1_000);
    expect([masked(registry, a), masked(registry, b)]).toEqual([true, true]);
    cache.set('t1:x', credential(c), 1_000); // renewed: the old credential goes
    expect([masked(registry, a), masked(registry, c)]).toEqual([false, true]);
    cache.set('t3:x', credential(d), 1_000); // evicts the oldest (t2)
    expect([masked(registry, b), masked(registry, d)]).toEqual([false, true]);
    cache.deletePrefix('t3:');
    expect(masked(registry, d)).toBe(false);
    cache.setTrusted(false); // revocation channel down: the cache empties
    expect(masked(registry, c)).toBe(false);
  });

  it('keeps a pinned credential while its response runs, even after the cache dropped it', () => {
    const registry = new SecretRegistry({ now: () => 0 });
    const token = 'tok-pinned-0123456789';
    registry.addCredential(credential(token));
    const unpin = registry.pin(credential(token));
    registry.removeCredential(credential(token));
    expect(masked(registry, token)).toBe(true);
    unpin();
    unpin(); // twice is once
    expect(masked(registry, token)).toBe(false);
  });

  it('keeps a derived value (a signature) pinned, then for derivedTtlMs, and at most maxDerived of them', () => {
    let now = 0;
    const registry = new SecretRegistry({ now: () => now, derivedTtlMs: 1_000, maxDerived: 2 });
    const release = registry.pinDerived(['sig-000000000000000A']);
    now = 5_000;
    registry.pinDerived([]); // expiry runs on use
    expect(masked(registry, 'sig-000000000000000A')).toBe(true); // still pinned
    release();
    expect(masked(registry, 'sig-000000000000000A')).toBe(false); // pinned and expired: gone
    registry.pinDerived(['sig-000000000000000B'])();
    registry.pinDerived(['sig-000000000000000C'])();
    expect(masked(registry, 'sig-000000000000000B')).toBe(true); // remembered after its request
    registry.pinDerived(['sig-000000000000000D'])(); // a third: the oldest goes
    expect(masked(registry, 'sig-000000000000000B')).toBe(false);
    expect(masked(registry, 'sig-000000000000000D')).toBe(true);
  });

  it('replaces a group of static secrets on reload, keeping those still referenced', () => {
    const registry = new SecretRegistry({ now: () => 0 });
    registry.setStatic('targets', ['static-old-key-1234', 'static-kept-key-5678']);
    registry.addCredential(credential('static-old-key-1234')); // a cached lease still carries the old key
    registry.setStatic('targets', ['static-kept-key-5678', 'static-new-key-9012']);
    expect(
      ['static-old-key-1234', 'static-kept-key-5678', 'static-new-key-9012'].map((v) => masked(registry, v)),
    ).toEqual([true, true, true]);
    registry.removeCredential(credential('static-old-key-1234'));
    expect(masked(registry, 'static-old-key-1234')).toBe(false);
  });

  it('scrubs the innermost wire forms: the token inside `Bearer <token>` masks both', () => {
    const registry = new SecretRegistry({ now: () => 0 });
    registry.addCredential(credential('tok-inner-abcdef0123'));
    expect(scrubText(registry.index, 'Authorization: Bearer tok-inner-abcdef0123')).toBe(
      `Authorization: Bearer ${'*'.repeat(20)}`,
    );
  });
});
