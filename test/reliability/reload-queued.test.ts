import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { reloadConfig } from '../../gateway/reload.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';

const ENV = { RELOAD_QUEUED_KEY: 'canary-reload-queued-9a1b' };

// A reload that moves a target's upstream replaces its pool. A request admitted on the old snapshot (here: waiting
// for the pool's only connection) must finish on the pool it was routed to, not fail with a 502 because the pool
// was closed under it; the old pool closes once that request is done.
describe('a reload that moves an upstream does not fail the requests already admitted to it', () => {
  const held: ServerResponse[] = [];
  let first: Server;
  let second: Server;
  let escrow: TestEscrow;
  let headers: Record<string, string>;
  let secondUrl = '';
  const listen = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    first = createServer((req, res) => {
      if (req.url?.startsWith('/slow')) {
        res.writeHead(200, { 'content-type': 'text/plain' }).write('started\n');
        held.push(res);
      } else res.writeHead(200, { 'content-type': 'text/plain' }).end('first');
    });
    second = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('second'));
    const firstUrl = await listen(first);
    secondUrl = await listen(second);
    escrow = await startEscrow({
      env: ENV,
      store: 'memory',
      targets: [
        {
          name: 'moves',
          upstream: firstUrl,
          attributes: { sensitivity: 'low', environment: 'dev' },
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:RELOAD_QUEUED_KEY', ttl: 300 },
          pool: { connections: 1, maxQueued: 2, queueTimeoutMs: 10_000 },
        },
      ],
    });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['moves']) };
  });
  afterAll(async () => {
    for (const res of held) res.end();
    await escrow?.close();
    for (const server of [first, second]) {
      server?.closeAllConnections();
      server?.close();
    }
  });

  it('finishes a queued request on the old upstream, closes the old pool after it, and sends new ones to the new', async () => {
    const slow = await fetch(`${escrow.url}/moves/slow`, { headers });
    const reader = slow.body!.getReader();
    await reader.read();
    const old = escrow.gw.targets.get('moves')!;
    const queued = fetch(`${escrow.url}/moves/fast`, { headers }).then(async (r) => ({
      status: r.status,
      body: await r.text(),
    }));
    await expect.poll(() => old.slots.stats.waiting).toBe(1);

    const path = join(escrow.dir, 'escrow.yaml');
    const config = parse(readFileSync(path, 'utf8')) as { targets: Record<string, unknown>[] };
    writeFileSync(path, stringify({ ...config, targets: config.targets.map((t) => ({ ...t, upstream: secondUrl })) }));
    expect((await reloadConfig(escrow.gw, path, { ...process.env, ...ENV })).outcome).toBe('applied');
    expect(escrow.gw.targets.get('moves')!.pool).not.toBe(old.pool);
    expect((old.pool as unknown as { closed: boolean }).closed).toBe(false);

    for (const res of held.splice(0)) res.end();
    await reader.cancel().catch(() => {});
    expect(await queued).toEqual({ status: 200, body: 'first' });
    await expect.poll(() => (old.pool as unknown as { closed: boolean }).closed).toBe(true);
    const after = await fetch(`${escrow.url}/moves/fast`, { headers });
    expect(await after.text()).toBe('second');
  });
});
