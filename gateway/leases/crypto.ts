import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { EscrowError } from '../errors.js';

/**
 * Lease envelopes: AES-256-GCM, with the lease's own key as additional authenticated data (a ciphertext
 * moved to another key fails to open) and the encryption key's id in the envelope, so the key can be
 * rotated: new leases use the current key; older ones stay readable with a previous key until they expire.
 *
 * Format: `v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts).
 */
export interface LeaseCipher {
  seal(plaintext: string, aad: string): string;
  open(envelope: string, aad: string): string;
  readonly keyId: string;
}

interface KeyEntry {
  readonly id: string;
  readonly key: Buffer;
}

function toKey(base64: string, name: string): KeyEntry {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32) {
    throw new EscrowError('config_invalid', `${name}: must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
  }
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 8), key };
}

/** `current` encrypts; `previous` keys only decrypt. Keys are base64 of 32 random bytes. */
export function createLeaseCipher(current: string, previous: readonly string[] = []): LeaseCipher {
  const active = toKey(current, 'keys.leaseEncryption');
  const byId = new Map<string, Buffer>([[active.id, active.key]]);
  previous.forEach((k, i) => {
    const entry = toKey(k, `keys.leaseEncryptionPrevious[${i}]`);
    if (!byId.has(entry.id)) byId.set(entry.id, entry.key);
  });
  return {
    keyId: active.id,
    seal(plaintext, aad) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', active.key, iv);
      cipher.setAAD(Buffer.from(aad));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [
        'v1',
        active.id,
        iv.toString('base64url'),
        ct.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
      ].join('.');
    },
    open(envelope, aad) {
      const [version, keyId, iv, ct, tag] = envelope.split('.');
      const key = keyId === undefined ? undefined : byId.get(keyId);
      if (version !== 'v1' || !key || iv === undefined || ct === undefined || tag === undefined) {
        throw new EscrowError('store_unavailable', 'lease envelope cannot be opened (unknown key id or format)');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(aad));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw new EscrowError('store_unavailable', 'lease envelope failed authentication', { cause });
      }
    },
  };
}
