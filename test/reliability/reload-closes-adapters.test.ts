import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { reloadConfig } from '../../gateway/reload.js';
import { REPO_POLICIES, startEscrow, type TestEscrow } from '../support/escrow.js';

const ENV = { RELOAD_OTHER_KEY: 'canary-reload-adapters-5d2e' };

/** A user adapter module whose `close()` is seen: each instance is named by its `generation` option. */
const MODULE = `
export default function create(options) {
  const generation = options.generation;
  return {
    kind: 'closing',
    async issue(scope) {
      const key = 'canary-closing-' + generation + '-' + scope.leaseId;
      return { fields: { key }, ttlSeconds: scope.ttlSeconds, wireForms: [key] };
    },
    inject(request, credential) {
      request.headers['x-api-key'] = credential.fields.key;
    },
    async close() {
      globalThis.__escrowClosedAdapters.push(generation);
    },
  };
}
`;

declare global {
  var __escrowClosedAdapters: string[];
}

// A SIGHUP re-reads every credential, so every adapter is replaced. The old one may hold connections (an admin
// pool): it is closed once no admitted request uses it, and the adapters of a rejected reload are closed at once.
describe('a reload closes the adapters it replaces or rejects, never under an admitted request', () => {
  const held: ServerResponse[] = [];
  const moduleDir = mkdtempSync(join(tmpdir(), 'escrow-closing-adapter-'));
  const modulePath = join(moduleDir, 'closing.mjs');
  let upstream: Server;
  let escrow: TestEscrow;
  let headers: Record<string, string>;
  const closed = () => globalThis.__escrowClosedAdapters;

  const reloadWith = async (edit: (targets: Record<string, unknown>[]) => Record<string, unknown>[]) => {
    const path = join(escrow.dir, 'escrow.yaml');
    const config = parse(readFileSync(path, 'utf8')) as { targets: Record<string, unknown>[] };
    writeFileSync(path, stringify({ ...config, targets: edit(config.targets) }));
    return reloadConfig(escrow.gw, path, { ...process.env, ...ENV });
  };
  /** The module target's `generation` set to `g`, and the other target's key read from `otherKey`. */
  const generation =
    (g: string, otherKey = 'env:RELOAD_OTHER_KEY') =>
    (targets: Record<string, unknown>[]) =>
      targets.map((t) => ({
        ...t,
        credential: { ...(t.credential as object), ...(t.name === 'mod' ? { generation: g } : { value: otherKey }) },
      }));

  beforeAll(async () => {
    globalThis.__escrowClosedAdapters = [];
    writeFileSync(modulePath, MODULE);
    upstream = createServer((req, res) => {
      if (req.url?.startsWith('/slow')) {
        res.writeHead(200, { 'content-type': 'text/plain' }).write('started\n');
        held.push(res);
      } else res.writeHead(200, { 'content-type': 'text/plain' }).end('fast');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const policies = Object.fromEntries(
      readdirSync(REPO_POLICIES)
        .filter((name) => name.endsWith('.cedar'))
        .map((name) => [name, readFileSync(join(REPO_POLICIES, name), 'utf8')]),
    );
    const attributes = { sensitivity: 'low', environment: 'dev' };
    escrow = await startEscrow({
      env: ENV,
      store: 'memory',
      policies,
      targets: [
        { name: 'mod', upstream: url, attributes, credential: { adapter: modulePath, ttl: 300, generation: 'a' } },
        {
          name: 'other',
          upstream: url,
          attributes,
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:RELOAD_OTHER_KEY', ttl: 300 },
        },
      ],
    });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['mod']) };
  });
  afterAll(async () => {
    for (const res of held) res.end();
    await escrow?.close();
    upstream?.closeAllConnections();
    upstream?.close();
    rmSync(moduleDir, { recursive: true, force: true });
  });

  it('closes the replaced adapter only after the request admitted through it is done', async () => {
    const slow = await fetch(`${escrow.url}/mod/slow`, { headers });
    const reader = slow.body!.getReader();
    await reader.read();

    expect((await reloadWith(generation('b'))).outcome).toBe('applied');
    expect(closed()).toEqual([]);
    const fast = await fetch(`${escrow.url}/mod/fast`, { headers });
    expect(await fast.text()).toBe('fast');
    expect(closed()).toEqual([]);

    for (const res of held.splice(0)) res.end();
    while (!(await reader.read()).done);
    await expect.poll(() => closed()).toEqual(['a']);
  });

  it('closes the adapters a reload built before one credential failed', async () => {
    const result = await reloadWith(generation('c', 'env:RELOAD_MISSING'));
    expect(result.outcome).toBe('rejected');
    expect(closed()).toEqual(['a', 'c']);
  });

  it('closes the adapters of a reload rejected for its policies', async () => {
    const broken = join(escrow.dir, 'policies', 'broken.cedar');
    writeFileSync(broken, 'permit(principal, action, resource) when { nonsense };');
    try {
      const result = await reloadWith(generation('d'));
      expect(result).toMatchObject({ outcome: 'rejected', reason: 'invalid_policy' });
      expect(closed()).toEqual(['a', 'c', 'd']);
    } finally {
      unlinkSync(broken);
    }
    // The adapter in force (b) was never closed: it still serves.
    const fast = await fetch(`${escrow.url}/mod/fast`, { headers });
    expect(fast.status).toBe(200);
  });

  it('closes the adapter in force when the gateway stops', async () => {
    await escrow.close();
    expect(closed()).toEqual(['a', 'c', 'd', 'b']);
    escrow = undefined as unknown as TestEscrow;
  });
});
