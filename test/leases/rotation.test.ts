import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { createIssuerKeys, type IssuerKeys } from '../support/keys.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';
import { type Mint, mintTarget, startMint } from './support/mint.js';
import { callTarget } from './support/replicas.js';

const keyId = (base64: string) => createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex').slice(0, 8);
const newKey = () => randomBytes(32).toString('base64');

describe('rotating the lease key keeps old leases readable and seals new ones with the new key', () => {
  const prefix = testPrefix('rotation');
  const auditKey = newKey();
  const oldKey = newKey();
  const currentKey = newKey();
  let keys: IssuerKeys;
  let mint: Mint;
  let redis: Redis;
  const running: TestEscrow[] = [];

  /** An Escrow over the shared prefix with `leaseKey` current and `previous` still readable. */
  const escrowWith = async (leaseKey: string, previous: string[]) => {
    const escrow = await startEscrow({
      prefix,
      keys,
      secrets: { leaseKey, auditKey },
      targets: [mintTarget(mint)],
      env: Object.fromEntries(previous.map((k, i) => [`OLD_LEASE_KEY_${i}`, k])),
      config: {
        keys: {
          leaseEncryption: 'file:lease.key',
          leaseEncryptionPrevious: previous.map((_, i) => `env:OLD_LEASE_KEY_${i}`),
          auditHmac: 'file:audit.key',
        },
      },
    });
    running.push(escrow);
    return escrow;
  };
  const envelopeKeyId = async (task: string) => (await redis.get(`${prefix}lease:{${task}}:minted`))?.split('.')[1];

  beforeAll(async () => {
    keys = await createIssuerKeys();
    mint = await startMint();
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const e of running) await e.close();
    await mint?.close();
    redis?.disconnect();
    await deletePrefix(prefix);
  });

  it('reads a lease sealed with the previous key, without issuing again, and seals new leases with the new key', async () => {
    const before = await escrowWith(oldKey, []);
    const token = await before.token();
    const oldTask = await before.openTask(token, ['minted']);
    const first = await callTarget(before, token, oldTask);
    expect(first.status).toBe(200);
    expect(await envelopeKeyId(oldTask)).toBe(keyId(oldKey));
    await before.close();
    running.splice(running.indexOf(before), 1);

    const after = await escrowWith(currentKey, [oldKey]);
    const again = await callTarget(after, token, oldTask);
    expect(again.status).toBe(200);
    expect(again.body.leaseId).toBe(first.body.leaseId);
    expect(mint.keys.filter((k) => k.taskId === oldTask)).toHaveLength(1);
    expect(await envelopeKeyId(oldTask)).toBe(keyId(oldKey));

    const newTask = await after.openTask(token, ['minted']);
    expect((await callTarget(after, token, newTask)).status).toBe(200);
    expect(await envelopeKeyId(newTask)).toBe(keyId(currentKey));
  });

  it('replaces, never serves, a lease that no configured key opens (previous key dropped too early)', async () => {
    const before = await escrowWith(oldKey, []);
    const token = await before.token({ sub: 'spiffe://test.example/agent/dropped' });
    const task = await before.openTask(token, ['minted']);
    const first = await callTarget(before, token, task);
    const withoutOld = await escrowWith(currentKey, []);
    const next = await callTarget(withoutOld, token, task);
    expect(next.status).toBe(200);
    expect(next.body.leaseId).not.toBe(first.body.leaseId);
    expect(await envelopeKeyId(task)).toBe(keyId(currentKey));
  });

  it('refuses to start with a lease key that is not 32 bytes, naming the key path', async () => {
    const error = await escrowWith(Buffer.alloc(16).toString('base64'), []).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('keys.leaseEncryption');
  });
});
