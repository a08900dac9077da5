import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { dumpPrefix } from '../support/redis.js';
import { type Mint, mintTarget, startMint } from './support/mint.js';
import { callTarget } from './support/replicas.js';

const CANARY = 'canary-static-4e1f9b7a2c5d8e03';

describe('a dump of every Escrow key in Redis holds no secret in clear', () => {
  let mint: Mint;
  let escrow: TestEscrow;
  beforeAll(async () => {
    mint = await startMint();
    escrow = await startEscrow({
      env: { STATIC_KEY: CANARY },
      targets: [
        mintTarget(mint),
        {
          name: 'static',
          upstream: mint.url,
          attributes: { sensitivity: 'low', environment: 'dev' },
          credential: { adapter: 'basic', username: 'svc', password: 'env:STATIC_KEY', ttl: 300 },
        },
      ],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await mint?.close();
  });

  it('stores tasks, leases, locks, indexes and audit events without any secret or token', async () => {
    const token = await escrow.token();
    const parent = await escrow.openTask(token, ['minted', 'static']);
    const step = await escrow.openTask(token, ['minted'], 'a step', { parent });
    expect((await callTarget(escrow, token, parent)).status).toBe(200);
    expect((await callTarget(escrow, token, step)).status).toBe(200);
    expect((await callTarget(escrow, token, parent, '/static/x')).status).toBe(401); // the mint refuses basic auth
    await escrow.gw.audit.flush();

    const dump = await dumpPrefix(escrow.prefix);
    expect(dump).toContain(`lease:{${parent}}:minted`);
    expect(dump).toContain(`lease:{${parent}}:static`);
    const secrets = [CANARY, Buffer.from(`svc:${CANARY}`).toString('base64'), ...mint.keys.map((k) => k.key)];
    expect(mint.keys.length).toBe(2);
    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(Buffer.from(secret).toString('base64'));
      expect(dump).not.toContain(Buffer.from(secret).toString('base64url'));
    }
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(token.split('.')[2]!);
  });
});
