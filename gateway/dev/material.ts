import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';

/**
 * Development key material for the embedded default, generated once into `dir` (mode 0600): an ES256
 * signing key for dev workload tokens and its JWK Set, the lease encryption key, the audit key, the admin API
 * token and the demo upstream's API key. Never used by a non-dev config.
 */
export async function ensureDevMaterial(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const write = (name: string, content: string) => writeFileSync(join(dir, name), content, { mode: 0o600 });
  if (!existsSync(join(dir, 'signing-key.jwk.json')) || !existsSync(join(dir, 'jwks.json'))) {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `dev-${randomBytes(4).toString('hex')}`;
    write('signing-key.jwk.json', JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' }));
    write('jwks.json', JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] }));
  }
  if (!existsSync(join(dir, 'lease.key'))) write('lease.key', randomBytes(32).toString('base64'));
  if (!existsSync(join(dir, 'audit.key'))) write('audit.key', randomBytes(32).toString('base64'));
  if (!existsSync(join(dir, 'admin-token'))) write('admin-token', randomBytes(24).toString('base64url'));
  if (!existsSync(join(dir, 'echo-api-key'))) write('echo-api-key', `demo-key-${randomBytes(12).toString('hex')}`);
  if (!existsSync(join(dir, 'ledger-api-key')))
    write('ledger-api-key', `ledger-key-${randomBytes(12).toString('hex')}`);
}
