import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';
import { buildRequest, type Credentials, type RawCase } from './support/raw-request.js';

const CANARY = 'canary-smuggle-5d1e7a93c2b8';
const SMUGGLED = 'GET /echo/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

/** Requests whose framing is ambiguous: Node's strict parser or Escrow answers 400 before any upstream work. */
const FRAMING: readonly RawCase[] = [
  {
    name: 'CL + TE',
    method: 'POST',
    headers: ['Content-Length: 4', 'Transfer-Encoding: chunked'],
    body: `0\r\n\r\n${SMUGGLED}`,
  },
  {
    name: 'TE + CL',
    method: 'POST',
    headers: ['Transfer-Encoding: chunked', 'Content-Length: 40'],
    body: `0\r\n\r\n${SMUGGLED}`,
  },
  { name: 'TE xchunked', method: 'POST', headers: ['Transfer-Encoding: xchunked'], body: `0\r\n\r\n${SMUGGLED}` },
  {
    name: 'TE chunked, identity',
    method: 'POST',
    headers: ['Transfer-Encoding: chunked, identity'],
    body: '0\r\n\r\n',
  },
  { name: 'TE identity', method: 'POST', headers: ['Transfer-Encoding: identity'], body: '0\r\n\r\n' },
  {
    name: 'space before colon',
    method: 'POST',
    headers: ['Transfer-Encoding : chunked'],
    body: `0\r\n\r\n${SMUGGLED}`,
  },
  {
    name: 'TE twice',
    method: 'POST',
    headers: ['Transfer-Encoding: chunked', 'Transfer-Encoding: x'],
    body: '0\r\n\r\n',
  },
  { name: 'TE obs-fold', method: 'POST', headers: ['Transfer-Encoding:', ' chunked'], body: '0\r\n\r\n' },
  { name: 'TE after bare LF', method: 'POST', headers: ['X-A: b\nTransfer-Encoding: chunked'], body: '0\r\n\r\n' },
  { name: 'TE with NUL', method: 'POST', headers: ['Transfer-Encoding: chunked\u0000'], body: '0\r\n\r\n' },
  { name: 'TE with vertical tab', method: 'POST', headers: ['Transfer-Encoding:\u000bchunked'], body: '0\r\n\r\n' },
  {
    name: 'chunk shorter than its size',
    method: 'POST',
    headers: ['Transfer-Encoding: chunked'],
    body: '5\r\nab\r\n0\r\n\r\n',
  },
  {
    name: 'chunk size not hex',
    method: 'POST',
    headers: ['Transfer-Encoding: chunked'],
    body: 'zz\r\nab\r\n0\r\n\r\n',
  },
  {
    name: 'negative chunk size',
    method: 'POST',
    headers: ['Transfer-Encoding: chunked'],
    body: '-1\r\nab\r\n0\r\n\r\n',
  },
  {
    name: 'chunk size overflow',
    method: 'POST',
    headers: ['Transfer-Encoding: chunked'],
    body: 'ffffffffffffffffff\r\nab\r\n',
  },
  { name: 'chunk without CRLF', method: 'POST', headers: ['Transfer-Encoding: chunked'], body: '2\r\nabXX0\r\n\r\n' },
  {
    name: 'duplicate Content-Length',
    method: 'POST',
    headers: ['Content-Length: 4', 'Content-Length: 5'],
    body: 'abcde',
  },
  { name: 'Content-Length list', method: 'POST', headers: ['Content-Length: 4, 5'], body: 'abcde' },
  { name: 'Content-Length plus sign', method: 'POST', headers: ['Content-Length: +4'], body: 'abcd' },
  { name: 'Content-Length hex', method: 'POST', headers: ['Content-Length: 0x4'], body: 'abcd' },
  { name: 'Content-Length with space inside', method: 'POST', headers: ['Content-Length: 4 4'], body: 'abcd' },
  {
    name: 'HTTP/1.0 with TE chunked',
    method: 'POST',
    version: 'HTTP/1.0',
    headers: ['Transfer-Encoding: chunked'],
    body: '0\r\n\r\n',
  },
  { name: 'HTTP/0.9', bytes: 'GET /echo/x\r\n\r\n' },
  { name: 'HTTP/2.0 request line', version: 'HTTP/2.0' },
  { name: 'duplicate Host', headers: ['Host: evil.example'] },
  {
    name: 'missing Host',
    bytes: 'GET /echo/x HTTP/1.1\r\nAuthorization: {auth}\r\nX-Escrow-Task: {task}\r\nConnection: close\r\n\r\n',
  },
  { name: 'duplicate Authorization', headers: ['Authorization: Bearer forged'] },
  { name: 'duplicate X-Escrow-Task', headers: ['X-Escrow-Task: tsk_forged'] },
  // The duplicate in another case: header names are read from rawHeaders, whose names keep the case they were sent in.
  { name: 'duplicate Host in another case', headers: ['hOST: evil.example'] },
  { name: 'duplicate Authorization in another case', headers: ['authorization: Bearer forged'] },
  { name: 'duplicate X-Escrow-Task in another case', headers: ['x-escrow-TASK: tsk_forged'] },
  { name: 'bare CR in a header', headers: ['X-A: b\rc'] },
  { name: 'header name with space', headers: ['X A: b'] },
  { name: 'unknown method', method: 'FOO' },
];

/** Request targets that must never be forwarded: the upstream origin comes from config only. */
const TARGETS: readonly RawCase[] = [
  { name: 'absolute-form http', target: 'http://evil.example/echo/x' },
  { name: 'absolute-form to the upstream itself', target: 'http://127.0.0.1:1/echo/x' },
  { name: '//host', target: '//evil.example/echo/x' },
  { name: '/\\host', target: '/\\evil.example/echo/x' },
  { name: 'asterisk-form', target: '*' },
  { name: 'authority-form', target: 'evil.example:443' },
  { name: 'no leading slash', target: 'echo/x' },
  { name: 'userinfo-like', target: '@evil.example/x' },
];

/** Methods that are not proxied. */
const METHODS: readonly RawCase[] = [
  { name: 'TRACE', method: 'TRACE' },
  { name: 'CONNECT', method: 'CONNECT', target: 'evil.example:443' },
];

describe('request framing, targets and methods that could smuggle or escape are refused before the upstream', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let creds: Credentials;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startLoggedEscrow({ env: { KEY: CANARY }, targets: [headerTarget('echo', upstream.url)] });
    const token = await escrow.token();
    creds = { token, task: await escrow.openTask(token, ['echo']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const expectRefused = async (c: RawCase, statuses: readonly number[]) => {
    const before = upstream.requests.length;
    const res = await rawExchange(escrow.port, buildRequest(c, creds), 1_500);
    expect(statuses, `${c.name}: got ${res.status}\n${res.raw}`).toContain(res.status);
    expect(res.raw).not.toContain(creds.token);
    expect(res.raw).not.toContain(CANARY);
    await new Promise((r) => setTimeout(r, 20));
    expect(upstream.requests.slice(before)).toEqual([]);
  };

  it.each(FRAMING)('framing: $name → 400', async (c) => expectRefused(c, [400]));
  it.each(TARGETS)('target: $name → 400', async (c) => expectRefused(c, [400]));
  it.each(METHODS)('method: $name → 405', async (c) => expectRefused(c, [405]));

  it('never lets a smuggled request reach the upstream', () => {
    expect(upstream.requests.some((r) => r.url.includes('smuggled'))).toBe(false);
  });

  it('answers a well-formed chunked POST (the corpus is not refusing everything)', async () => {
    const before = upstream.requests.length;
    const c: RawCase = {
      name: 'ok',
      method: 'POST',
      headers: ['Transfer-Encoding: chunked'],
      body: '3\r\nabc\r\n0\r\n\r\n',
    };
    const res = await rawExchange(escrow.port, buildRequest(c, creds));
    expect(res.status).toBe(200);
    expect(upstream.requests[before]!.body.toString()).toBe('abc');
  });
});
