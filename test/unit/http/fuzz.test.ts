import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EscrowError } from '../../../gateway/errors.js';
import { upstreamHeaders } from '../../../gateway/http/headers.js';
import { parseRoute } from '../../../gateway/http/route.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from '../../security/support/escrow.js';
import { rawExchange } from '../../support/raw.js';
import { startUpstream, type TestUpstream } from '../../support/upstream.js';

/** Path pieces that parsers disagree about, mixed with ordinary text. */
const PIECES = [
  '/',
  '//',
  '.',
  '..',
  '%2e',
  '%2E',
  '%252e',
  '%25',
  '%2f',
  '%5c',
  '\\',
  ';',
  ';x=1',
  '%00',
  '%c0%ae',
  '\uff0e',
  '#',
  '?',
  '&',
  '=',
  '@',
  ':',
  'a',
  'echo',
  '_escrow',
  '%',
  '%zz',
  ' ',
  '\t',
  'http://evil.test',
  '*',
  '~',
  '+',
];

const pathLike = fc.oneof(
  fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((parts) => `/${parts.join('')}`),
  fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((parts) => parts.join('')),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => `/echo/${s}`),
);

describe('the router: no input crashes it, and what it accepts resolves to the target’s origin and base path', () => {
  it('either refuses with bad_path or yields a path that URL resolution leaves in place', () => {
    fc.assert(
      fc.property(pathLike, (raw) => {
        let route: ReturnType<typeof parseRoute>;
        try {
          route = parseRoute(raw);
        } catch (error) {
          expect(error).toBeInstanceOf(EscrowError);
          expect((error as EscrowError).code).toBe('bad_path');
          return;
        }
        const sent = `/base${route.rest}${route.query}`;
        const resolved = new URL(sent, 'http://upstream.test');
        expect(resolved.origin).toBe('http://upstream.test');
        expect(resolved.pathname.startsWith('/base/')).toBe(true);
        // No segment was removed or merged: policy saw exactly the structure the upstream gets.
        expect(resolved.pathname.split('/').length).toBe(`/base${route.rest}`.split('/').length);
      }),
      { numRuns: 5_000 },
    );
  });
});

const NAMES = [
  'authorization',
  'Authorization',
  'x-api-key',
  'X-API-KEY',
  'x_api_key',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-x',
  'expect',
  'host',
  'forwarded',
  'x-forwarded-for',
  'X-Forwarded-Host',
  'x-real-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-escrow-task',
  'accept-encoding',
  'x-custom',
  'content-type',
  'cookie',
  'x-a_b',
  'constructor',
  'toString',
  '__proto__',
  'hasOwnProperty',
];

const headerList = fc.array(
  fc.tuple(
    fc.oneof(fc.constantFrom(...NAMES), fc.stringMatching(/^[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,12}$/)),
    fc.string({ maxLength: 12 }),
  ),
  { maxLength: 16 },
);

/** The parts of IncomingMessage that the header filter reads, built from a raw header list. */
function fakeRequest(pairs: [string, string][], connection: string[]): IncomingMessage {
  const rawHeaders = [...pairs.flat(), ...connection.flatMap((v) => ['Connection', v])];
  return {
    rawHeaders,
    socket: { remoteAddress: '127.0.0.1' },
  } as unknown as IncomingMessage;
}

describe('the request header filter: nothing the agent sends survives that Escrow must decide', () => {
  it('drops hop-by-hop, Connection-named, token, spoofable and underscore headers for any input', () => {
    const tokenHeaders = new Set(['authorization', 'x-agent-token']);
    fc.assert(
      fc.property(
        headerList,
        fc.array(fc.constantFrom(...NAMES, 'x-custom, cookie', ' X-API-KEY '), { maxLength: 3 }),
        (pairs, conn) => {
          const out = upstreamHeaders(fakeRequest(pairs, conn), { tokenHeaders });
          const named = new Set(conn.flatMap((v) => v.split(',')).map((n) => n.trim().toLowerCase()));
          for (const [name, value] of Object.entries(out)) {
            for (const v of Array.isArray(value) ? value : [value]) expect(typeof v).toBe('string');
            expect(name).toBe(name.toLowerCase());
            expect(name.includes('_')).toBe(false);
            expect(tokenHeaders.has(name)).toBe(false);
            if (name !== 'accept-encoding') expect(named.has(name)).toBe(false);
            expect(
              /^(connection|keep-alive|te|trailer|transfer-encoding|upgrade|expect|host|forwarded|x-real-ip|x-original-url|x-rewrite-url|x-escrow-task)$/.test(
                name,
              ),
            ).toBe(false);
            expect(/^(proxy-|x-forwarded-)/.test(name)).toBe(false);
          }
          expect(out['accept-encoding']).toBe('identity');
        },
      ),
      { numRuns: 3_000 },
    );
  });
});

describe('end to end: generated request targets and headers never crash Escrow or reach another origin', () => {
  let upstream: TestUpstream;
  let other: TestUpstream;
  let escrow: LoggedEscrow;
  let auth: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    other = await startUpstream();
    escrow = await startLoggedEscrow({
      env: { KEY: 'canary-fuzz-6a2e9d10b4' },
      targets: [headerTarget('echo', `${upstream.url}/base`)],
    });
    const token = await escrow.token();
    auth = `Authorization: Bearer ${token}\r\nX-Escrow-Task: ${await escrow.openTask(token, ['echo'])}`;
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    await other?.close();
  });

  it('answers every request with a status, and only the target’s origin and base path are ever called', async () => {
    const target = fc.oneof(
      pathLike.map((p) => `/echo${p}`),
      pathLike,
      fc.constant(`http://127.0.0.1:${other.port}/x`),
    );
    const header = fc.tuple(
      fc.constantFrom(...NAMES),
      fc.constantFrom('x', '', `127.0.0.1:${other.port}`, 'chunked', 'close'),
    );
    await fc.assert(
      fc.asyncProperty(target, fc.array(header, { maxLength: 4 }), async (t, headers) => {
        const lines = headers.map(([n, v]) => `${n}: ${v}`).join('\r\n');
        // A request that declares a chunked body must end it, or the server rightly waits for the rest.
        const chunked = headers.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && v === 'chunked');
        const bytes = Buffer.from(
          `GET ${t} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}\r\nConnection: close\r\n${lines}\r\n\r\n${chunked ? '0\r\n\r\n' : ''}`,
          'latin1',
        );
        const res = await rawExchange(escrow.port, bytes, 5_000); // generous: a loaded CI box
        expect(res.status).toBeGreaterThanOrEqual(200);
        expect(res.status).toBeLessThan(600);
      }),
      { numRuns: 150 },
    );
    expect(other.requests).toEqual([]);
    for (const r of upstream.requests) {
      expect(r.url.startsWith('/base/')).toBe(true);
      expect(r.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    }
    expect(
      (await rawExchange(escrow.port, `GET /echo/alive HTTP/1.1\r\nHost: x\r\n${auth}\r\nConnection: close\r\n\r\n`))
        .status,
    ).toBe(200);
  });
});
