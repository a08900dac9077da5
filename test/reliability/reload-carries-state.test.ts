import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { reloadConfig } from '../../gateway/reload.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

type Target = Record<string, unknown> & { name: string; credential: Record<string, unknown> };

const ENV = { KEY_A: 'canary-carry-a-71c0', KEY_B: 'canary-carry-b-2e9d' };

/**
 * A reload builds a new snapshot of the targets (#22) and carries over the runtime state that still fits the new
 * config: the pool and its slots while the origin and pool options stay, the breaker while the upstream stays.
 */
describe('a reload keeps the pool and breaker of a target whose upstream did not change, and only those', () => {
  let first: TestUpstream;
  let second: TestUpstream;
  let escrow: TestEscrow;

  const target = (name: string, upstream: string): Target => ({
    name,
    upstream,
    attributes: { sensitivity: 'low', environment: 'dev' },
    credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY_A', ttl: 300 },
    circuitBreaker: { failureThreshold: 3, coolDownMs: 60_000 },
  });

  beforeAll(async () => {
    first = await startUpstream();
    second = await startUpstream();
    escrow = await startEscrow({
      store: 'memory',
      env: ENV,
      targets: [target('stays', first.url), target('moves', first.url)],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await first?.close();
    await second?.close();
  });

  async function reload(edit: (t: Target) => Target) {
    const path = join(escrow.dir, 'escrow.yaml');
    const config = parse(readFileSync(path, 'utf8')) as { targets: Target[] };
    writeFileSync(path, stringify({ ...config, targets: config.targets.map(edit) }));
    return reloadConfig(escrow.gw, path, { ...process.env, ...ENV });
  }

  it('keeps pool, slots and breaker through a credential change', async () => {
    const before = escrow.gw.targets.get('stays')!;
    const result = await reload((t) => ({ ...t, credential: { ...t.credential, value: 'env:KEY_B' } }));
    expect(result.outcome).toBe('applied');
    const after = escrow.gw.targets.get('stays')!;
    expect(after).not.toBe(before); // a new snapshot: new adapter, same upstream state
    expect(after.adapter).not.toBe(before.adapter);
    expect(after.pool).toBe(before.pool);
    expect(after.slots).toBe(before.slots);
    expect(after.breaker).toBe(before.breaker);
  });

  it('gives a moved target a new pool and a new breaker, closes the old pool, and leaves the other alone', async () => {
    const stays = escrow.gw.targets.get('stays')!;
    const moves = escrow.gw.targets.get('moves')!;
    const result = await reload((t) => (t.name === 'moves' ? { ...t, upstream: second.url } : t));
    expect(result.outcome).toBe('applied');
    const moved = escrow.gw.targets.get('moves')!;
    expect(moved.origin).toBe(new URL(second.url).origin);
    expect(moved.pool).not.toBe(moves.pool);
    expect(moved.breaker).not.toBe(moves.breaker);
    expect(moved.breaker?.state).toBe('closed');
    expect(moves.pool?.closed).toBe(true);
    expect(escrow.gw.targets.get('stays')!.pool).toBe(stays.pool);
    expect(escrow.gw.targets.get('stays')!.breaker).toBe(stays.breaker);
  });

  it('still needs a restart to change a target’s pool options', async () => {
    const result = await reload((t) => (t.name === 'stays' ? { ...t, pool: { connections: 3 } } : t));
    expect(result).toMatchObject({ outcome: 'restart_needed', paths: ['targets[0].pool.connections'] });
  });
});
