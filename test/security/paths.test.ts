import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawGet } from '../support/raw.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';

/** Paths an upstream (or undici's URL resolution) could read as a different path than the policy saw. */
const ESCAPES: readonly string[] = [
  '/echo/../admin',
  '/echo/./admin',
  '/echo/..',
  '/echo/%2e%2e/admin',
  '/echo/%2E%2E/admin',
  '/echo/.%2e/admin',
  '/echo/%2e./admin',
  '/echo/%2e/admin',
  '/echo/..;/admin',
  '/echo/..;jsessionid=x/admin',
  '/echo/%2e%2e;/admin',
  '/echo/%252e%252e/admin',
  '/echo/%25252e%25252e/admin',
  '/echo/%25%32%65%25%32%65/admin',
  '/echo/%5c..%5cadmin',
  '/echo/..%5cadmin',
  '/echo/..%2fadmin',
  '/echo/x%2f..%2f..%2fadmin',
  '/echo/%252f',
  '/echo/%c0%ae%c0%ae/admin',
  '/echo/%e0%80%ae%e0%80%ae/admin',
  '/echo/%c0%af',
  '/echo/x%00y',
  '/echo/%00',
  '/echo/..%00/admin',
  '/echo/%2500',
  '/echo/%EF%BC%8E%EF%BC%8E/admin',
  '/echo/\uff0e\uff0e/admin',
  '/echo/\u2025/admin',
  '/echo/x#/../admin',
  '/echo/x#frag',
  '/echo//admin',
  '/echo/x//y',
  '/echo/%',
  '/echo/%zz',
  '/echo/x\ty',
  '/_escrow/../echo/x',
  '/echo/..\\admin',
];

/** Paths that look odd but are safe: forwarded in canonical form (http/canonical.ts), under the base path. */
const SAFE: readonly [string, string][] = [
  ['/echo/a%20b', '/base/a%20b'],
  ['/echo/..foo', '/base/..foo'],
  ['/echo/a;b=c', '/base/a;b=c'],
  ['/echo/x/', '/base/x/'],
  ['/echo', '/base/'],
  ['/echo/%7Euser?q=%2e%2e&r=..', '/base/~user?q=%2e%2e&r=..'], // an encoded unreserved character is decoded
  ['/echo/caf%C3%A9', '/base/caf%C3%A9'],
];

describe('paths that escape the target are refused with 400; odd but safe paths are forwarded in canonical form', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startLoggedEscrow({
      env: { KEY: 'canary-paths-0b9e2f61a7' },
      targets: [headerTarget('echo', `${upstream.url}/base`)],
    });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['echo']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it.each(ESCAPES)('%s → 400, upstream never called', async (path) => {
    const before = upstream.requests.length;
    const res = await rawGet(escrow.port, path, headers);
    expect(res.status, res.raw).toBe(400);
    expect(res.body).not.toContain(headers.authorization!.slice(7));
    expect(upstream.requests.length).toBe(before);
  });

  it.each(SAFE)('%s → upstream sees %s', async (path, seen) => {
    const before = upstream.requests.length;
    const res = await rawGet(escrow.port, path, headers);
    expect(res.status, res.raw).toBe(200);
    expect(upstream.requests[before]!.url).toBe(seen);
  });
});
