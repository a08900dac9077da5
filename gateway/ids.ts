import { randomBytes } from 'node:crypto';

// Ids on the request path are cut from a pooled block of randomness: one randomBytes call per 4 KiB instead of
// one per id (a per-request randomBytes showed up at ~1% of CPU in profiles).
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** `<prefix><n random bytes, encoded>`, e.g. `randomId('req_', 9, 'base64url')`. */
export function randomId(prefix: string, bytes: number, encoding: 'hex' | 'base64url'): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  offset += bytes;
  return prefix + pool.toString(encoding, offset - bytes, offset);
}
