import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';

const KEY = 'canary-range-5d2a9c41e07b3f68';

// The attack: an upstream that reflects the request's headers and honours byte ranges. Asking for slices shorter
// than the key, an agent would get each slice unmasked (the scrubber masks whole secrets only) and join them.
describe('an agent cannot read a reflected secret slice by slice with Range', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const body = Buffer.from(JSON.stringify({ key: req.headers['x-api-key'], pad: 'x'.repeat(64) }));
      seen.push(req.headers.range);
      const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
      if (!range) {
        res.writeHead(200, { 'content-type': 'application/json', 'accept-ranges': 'bytes' });
        res.end(body);
        return;
      }
      const [from, to] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      res.writeHead(206, { 'content-range': `bytes ${from}-${to}/${body.length}`, 'content-type': 'application/json' });
      res.end(body.subarray(from, to + 1));
    });
    escrow = await startLoggedEscrow({ env: { KEY }, targets: [headerTarget('rng', upstream.url)] });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['rng']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('sends no Range or If-Range upstream: every slice asked for comes back as the whole answer, masked', async () => {
    let joined = '';
    for (let from = 0; from < 80; from += 8) {
      const res = await fetch(`${escrow.url}/rng/echo`, {
        headers: { ...headers, range: `bytes=${from}-${from + 7}`, 'if-range': '"etag"' },
      });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain(KEY);
      joined += text.slice(from, from + 8);
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => r === undefined)).toBe(true);
    expect(joined).not.toContain(KEY.slice(0, 12));
  });
});
