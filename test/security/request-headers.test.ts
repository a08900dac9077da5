import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw.js';
import { type RecordedRequest, startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';
import { buildRequest, type Credentials } from './support/raw-request.js';

const CANARY = 'canary-headers-8c4f1d0e3b7a';

/** Header names (lower case) the upstream saw, each as often as it was sent. */
const names = (r: RecordedRequest) => r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());

async function startPair(proxy: Record<string, unknown> = {}) {
  const upstream = await startUpstream();
  const trailers: string[][] = [];
  upstream.server.on('request', (req: IncomingMessage) => req.on('end', () => trailers.push(req.rawTrailers)));
  const escrow = await startLoggedEscrow({
    env: { KEY: CANARY },
    proxy,
    targets: [headerTarget('echo', upstream.url)],
  });
  const token = await escrow.token();
  const creds: Credentials = { token, task: await escrow.openTask(token, ['echo']) };
  return { upstream, escrow, creds, trailers };
}

describe('request hygiene: only what Escrow decides reaches the upstream', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let creds: Credentials;
  let trailers: string[][];

  beforeAll(async () => {
    ({ upstream, escrow, creds, trailers } = await startPair());
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const send = async (headers: string[], extra: { method?: string; body?: string } = {}) => {
    const before = upstream.requests.length;
    const res = await rawExchange(escrow.port, buildRequest({ name: '', headers, ...extra }, creds));
    return { res, seen: upstream.requests[before] };
  };

  it('keeps the injected key when the agent names it, or its own token, in Connection', async () => {
    const { res, seen } = await send(['Connection: x-api-key, authorization, x-escrow-task, keep-alive']);
    expect(res.status).toBe(200);
    expect(seen!.headers['x-api-key']).toBe(CANARY);
    expect(names(seen!)).not.toContain('authorization');
  });

  it('replaces every agent copy of the injected header, in any casing and number', async () => {
    const { res, seen } = await send([
      'X-API-KEY: forged-1',
      'x-api-key: forged-2',
      'X-Api-Key: forged-3',
      'x_api_key: forged-4',
    ]);
    expect(res.status).toBe(200);
    expect(names(seen!).filter((n) => n === 'x-api-key' || n === 'x_api_key')).toEqual(['x-api-key']);
    expect(seen!.headers['x-api-key']).toBe(CANARY);
    expect(JSON.stringify(seen!.rawHeaders)).not.toContain('forged');
  });

  it('drops hop-by-hop, proxy, forwarding and rewrite headers, and names with an underscore', async () => {
    const { res, seen } = await send([
      'Keep-Alive: timeout=5',
      'Proxy-Connection: keep-alive',
      'Proxy-Authorization: Basic Zm9yZ2Vk',
      'Proxy-Foo: x',
      'TE: trailers',
      'Trailer: X-Later',
      'Upgrade: h2c',
      'HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA',
      'Forwarded: for=6.6.6.6;host=evil.example',
      'X-Forwarded-For: 6.6.6.6',
      'X-Forwarded-Host: evil.example',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Prefix: /admin',
      'X-Real-IP: 6.6.6.6',
      'X-Original-URL: /admin',
      'X-Rewrite-URL: /admin',
      'X_Forwarded_For: 6.6.6.6',
      'Client_IP: 6.6.6.6',
      'X-Keep: yes',
    ]);
    expect(res.status).toBe(200);
    const seenNames = names(seen!);
    for (const dropped of [
      'keep-alive',
      'proxy-connection',
      'proxy-authorization',
      'proxy-foo',
      'te',
      'trailer',
      'upgrade',
      'http2-settings',
      'forwarded',
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
      'x-forwarded-prefix',
      'x-real-ip',
      'x-original-url',
      'x-rewrite-url',
      'x_forwarded_for',
      'client_ip',
      'x-escrow-task',
      'authorization',
    ]) {
      expect(seenNames, dropped).not.toContain(dropped);
    }
    expect(seen!.headers['x-keep']).toBe('yes');
    expect(seen!.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(JSON.stringify(seen!.rawHeaders)).not.toContain('6.6.6.6');
  });

  it('forwards headers named like Object.prototype members as plain values (regression: constructor)', async () => {
    const { res, seen } = await send(['Constructor: a', 'toString: b', 'hasOwnProperty: c', 'valueOf: d']);
    expect(res.status).toBe(200);
    expect(seen!.headers.constructor).toBe('a');
    expect(seen!.headers.tostring).toBe('b');
    expect(seen!.headers.hasownproperty).toBe('c');
  });

  it('sends the upstream its own Host, never the one the agent gave', async () => {
    const res = await rawExchange(
      escrow.port,
      `GET /echo/h HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${creds.token}\r\nX-Escrow-Task: ${creds.task}\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(200);
    expect(upstream.requests.at(-1)!.headers.host).toBe(`127.0.0.1:${upstream.port}`);
  });

  it('answers Expect: 100-continue itself and does not forward Expect', async () => {
    const { res, seen } = await send(['Expect: 100-continue', 'Content-Length: 3'], { method: 'POST', body: 'abc' });
    expect(res.raw.startsWith('HTTP/1.1 100 Continue\r\n')).toBe(true);
    expect(res.raw).toContain('HTTP/1.1 200 OK');
    expect(names(seen!)).not.toContain('expect');
    expect(seen!.body.toString()).toBe('abc');
  });

  it('refuses any other expectation with 417 and never calls the upstream', async () => {
    const before = upstream.requests.length;
    const { res } = await send(['Expect: something-else']);
    expect(res.status).toBe(417);
    expect(upstream.requests.length).toBe(before);
  });

  it('never forwards request trailers', async () => {
    const before = trailers.length;
    const { res, seen } = await send(['Transfer-Encoding: chunked', 'Trailer: X-Later'], {
      method: 'POST',
      body: '3\r\nabc\r\n0\r\nX-Later: smuggled\r\nAuthorization: Bearer forged\r\n\r\n',
    });
    expect(res.status).toBe(200);
    expect(seen!.body.toString()).toBe('abc');
    expect(trailers[before]).toEqual([]);
  });

  it('refuses Upgrade: h2c on a target that does not take upgrades, with a problem', async () => {
    const before = upstream.requests.length;
    const { res } = await send([
      'Connection: Upgrade, HTTP2-Settings',
      'Upgrade: h2c',
      'HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA',
    ]);
    expect(res.status).toBe(400);
    expect(res.head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(res.body)).toMatchObject({ code: 'bad_request', reason: 'upgrade_not_allowed' });
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses a WebSocket upgrade on a target without websocket: true', async () => {
    const { res } = await send([
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ]);
    expect(res.status).toBe(400);
    expect(res.body).not.toContain(creds.token);
  });
});

describe('proxy.forwardedHeaders: Escrow sets X-Forwarded-For/-Proto itself', () => {
  it('replaces the agent’s values with the socket address and scheme', async () => {
    const { upstream, escrow, creds } = await startPair({ forwardedHeaders: true });
    try {
      const res = await rawExchange(
        escrow.port,
        buildRequest(
          { name: '', headers: ['X-Forwarded-For: 6.6.6.6', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: evil'] },
          creds,
        ),
      );
      expect(res.status).toBe(200);
      const seen = upstream.requests.at(-1)!;
      expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen.headers['x-forwarded-proto']).toBe('http');
      expect(seen.headers['x-forwarded-host']).toBeUndefined();
      expect(names(seen).filter((n) => n === 'x-forwarded-for')).toHaveLength(1);
    } finally {
      await escrow.close();
      await upstream.close();
    }
  });
});
