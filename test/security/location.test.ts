import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';

/** Characters a URL parser re-serialises (`<` → `%3C`, `"` → `%22`, upper-case host → lower-case). */
const KEY = 'Canary-Loc<8f2>"Q"-41d9';

describe('Location is masked before Escrow rewrites it, and again after', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const key = String(req.headers['x-api-key']);
      const location = req.url.startsWith('/host')
        ? `http://${key.replace(/[^A-Za-z0-9-]/g, '')}.example/next`
        : `http://${req.headers.host}/base/next?k=${key}&raw=1`;
      res.writeHead(302, { location });
      res.end();
    });
    escrow = await startLoggedEscrow({ env: { KEY }, targets: [headerTarget('loc', `${upstream.url}/base`)] });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['loc']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('a same-origin redirect reflecting the key: rewritten to the Escrow path with the key masked', async () => {
    const res = await fetch(`${escrow.url}/loc/query`, { headers, redirect: 'manual' });
    const location = res.headers.get('location') ?? '';
    expect(location.startsWith('/loc/next?k=')).toBe(true);
    expect(location).toContain('*');
    for (const form of [KEY, encodeURIComponent(KEY), new URL(`http://x/?k=${KEY}`).search.slice(3)]) {
      expect(location).not.toContain(form);
    }
    expect(decodeURIComponent(location)).not.toContain('Loc<8f2>');
  });

  it('a cross-origin redirect whose host carries the key: never shown, even lower-cased', async () => {
    const res = await fetch(`${escrow.url}/loc/host`, { headers, redirect: 'manual' });
    const location = (res.headers.get('location') ?? '').toLowerCase();
    expect(location).not.toContain('canary-loc8f2q-41d9');
    expect(location).not.toContain('8f2');
  });
});
