import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';
import { canaryForms, findLeak } from './support/leak.js';
import { startLeakyUpstream } from './support/leaky-upstream.js';

const CANARY = 'canary-Resp/7f+3a9c=1e5b!(2d)~4f60';
const MASK = '*'.repeat(CANARY.length);

describe('what the upstream sends back is scrubbed of the lease’s secret, whatever its form', () => {
  let other: TestUpstream;
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    other = await startUpstream();
    upstream = await startLeakyUpstream(other.url);
    escrow = await startLoggedEscrow({
      env: { KEY: CANARY },
      targets: [
        headerTarget('echo', `${upstream.url}/base`),
        headerTarget('cookies', `${upstream.url}/base`, { allowResponseHeaders: ['Set-Cookie', 'WWW-Authenticate'] }),
      ],
    });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['echo', 'cookies']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    await other?.close();
  });

  const get = (path: string) => fetch(`${escrow.url}${path}`, { headers, redirect: 'manual' });

  it.each(['gzip', 'x-gzip', 'deflate', 'br'])('decodes a %s body to scrub it (no compression bypass)', async (enc) => {
    const res = await get(`/echo/${enc}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBeNull();
    const text = await res.text();
    expect(JSON.parse(text).headers['x-api-key']).toBe(MASK);
    expect(findLeak(text, canaryForms(CANARY))).toBeUndefined();
  });

  it.each(['compress', 'gzip-twice'])('refuses an encoding it cannot scrub (%s) with 502', async (path) => {
    const res = await get(`/echo/${path}`);
    expect(res.status).toBe(502);
    expect(findLeak(await res.text(), canaryForms(CANARY))).toBeUndefined();
  });

  it('drops Set-Cookie, WWW-Authenticate and headers the upstream named in Connection; masks the rest', async () => {
    const res = await get('/echo/headers');
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(res.headers.get('x-hidden')).toBeNull();
    expect(res.headers.get('x-echo-key')).toBe(MASK);
    expect(findLeak(JSON.stringify([...res.headers]), canaryForms(CANARY))).toBeUndefined();
  });

  it('passes Set-Cookie and WWW-Authenticate when the target allows them, still masked', async () => {
    const res = await get('/cookies/headers');
    expect(res.headers.getSetCookie()).toEqual([`session=${MASK}; HttpOnly`, 'plain=1']);
    expect(res.headers.get('www-authenticate')).toBe(`Basic realm="${MASK}"`);
  });

  it('masks the key inside a base64 text of a larger echo, at any alignment', async () => {
    const text = await (await get('/echo/b64')).text();
    expect(findLeak(text, canaryForms(CANARY))).toBeUndefined();
    expect(Buffer.from(text, 'base64').toString('latin1')).not.toContain(CANARY);
  });

  it('masks form-encoded and lower-case percent-encoded forms', async () => {
    const text = await (await get('/echo/urlencoded')).text();
    expect(findLeak(text, canaryForms(CANARY))).toBeUndefined();
    expect(decodeURIComponent(text.replaceAll('+', ' '))).not.toContain(CANARY);
  });

  it('masks a key split across two chunks of the body', async () => {
    const text = await (await get('/echo/split')).text();
    expect(text).toBe(`before ${MASK} after`);
  });

  it('masks the key in an upstream error body', async () => {
    const res = await get('/echo/error');
    expect(res.status).toBe(500);
    expect(await res.text()).toBe(`upstream failed with key ${MASK}`);
  });

  it('never forwards the upstream’s trailers', async () => {
    const res = await rawExchange(
      escrow.port,
      `GET /echo/trailers HTTP/1.1\r\nHost: x\r\nAuthorization: ${headers.authorization}\r\nX-Escrow-Task: ${headers['x-escrow-task']}\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(200);
    expect(res.raw.toLowerCase()).not.toContain('x-key');
    expect(findLeak(res.raw, canaryForms(CANARY))).toBeUndefined();
  });
});

describe('redirects: Escrow never follows them, and the agent stays in its lane', () => {
  let other: TestUpstream;
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    other = await startUpstream();
    upstream = await startLeakyUpstream(other.url);
    escrow = await startLoggedEscrow({ env: { KEY: CANARY }, targets: [headerTarget('echo', `${upstream.url}/base`)] });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['echo']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    await other?.close();
  });

  const get = (path: string) => fetch(`${escrow.url}${path}`, { headers, redirect: 'manual' });

  it('passes a cross-origin redirect back without userinfo or the key, and sends nothing there', async () => {
    const res = await get('/echo/redirect-cross');
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(other.url);
    expect(location.username).toBe('');
    expect(location.password).toBe('');
    expect(findLeak(location.href, canaryForms(CANARY))).toBeUndefined();
    expect(other.requests).toEqual([]);
  });

  it('rewrites a same-origin redirect (relative or absolute) to the Escrow path', async () => {
    expect((await get('/echo/redirect-same')).headers.get('location')).toBe('/echo/next?page=2');
    expect((await get('/echo/redirect-same-absolute')).headers.get('location')).toBe('/echo/moved');
  });
});

describe('server-sent events are scrubbed without buffering', () => {
  it('delivers the first event before the upstream ends and masks a key split across chunks', async () => {
    const upstream = await startLeakyUpstream('http://127.0.0.1:1');
    const escrow = await startLoggedEscrow({ env: { KEY: CANARY }, targets: [headerTarget('echo', upstream.url)] });
    try {
      const token = await escrow.token();
      const task = await escrow.openTask(token, ['echo']);
      const res = await fetch(`${escrow.url}/echo/sse`, {
        headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
      });
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      const reader = res.body!.getReader();
      const started = Date.now();
      const first = await reader.read();
      const firstAt = Date.now() - started;
      expect(Buffer.from(first.value!).toString()).toBe('data: first\n\n');
      let rest = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += Buffer.from(value).toString();
      }
      const endAt = Date.now() - started;
      expect(firstAt).toBeLessThan(endAt - 250);
      expect(rest).toBe(`data: key=${MASK}\n\ndata: last\n\n`);
    } finally {
      await escrow.close();
      await upstream.close();
    }
  });
});
