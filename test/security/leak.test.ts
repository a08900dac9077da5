import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw.js';
import { dumpPrefix } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { openWebSocket, startWsUpstream, type WsUpstream } from '../support/websocket.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';
import { canaryForms, findLeak } from './support/leak.js';
import { startLeakyUpstream } from './support/leaky-upstream.js';

/** A fresh canary each run, with the characters that encodings treat differently. */
const CANARY = `canary-${randomBytes(6).toString('hex')}/+=!(x)~${randomBytes(3).toString('hex')}`;

const PATHS = [
  '/gzip',
  '/x-gzip',
  '/deflate',
  '/br',
  '/compress',
  '/gzip-twice',
  '/headers',
  '/b64',
  '/urlencoded',
  '/redirect-cross',
  '/redirect-same',
  '/redirect-same-absolute',
  '/error',
  '/trailers',
  '/split',
  '/sse',
  '/echo?api_key=agent-value&x=1',
];

describe('a canary secret appears nowhere the agent, the logs, the metrics, the audit or Redis can show', () => {
  let other: TestUpstream;
  let upstream: TestUpstream;
  let wsUpstream: WsUpstream;
  let escrow: LoggedEscrow;
  let token: string;
  let task: string;
  const seenByAgent: string[] = [];

  beforeAll(async () => {
    other = await startUpstream();
    upstream = await startLeakyUpstream(other.url);
    wsUpstream = await startWsUpstream();
    escrow = await startLoggedEscrow({
      env: { KEY: CANARY },
      targets: [
        headerTarget('hdr', `${upstream.url}/base`),
        headerTarget('cookies', `${upstream.url}/base`, { allowResponseHeaders: ['set-cookie', 'www-authenticate'] }),
        {
          ...headerTarget('qry', `${upstream.url}/base`),
          credential: { adapter: 'query', param: 'api_key', value: 'env:KEY' },
        },
        {
          ...headerTarget('basic', `${upstream.url}/base`),
          credential: { adapter: 'basic', username: 'svc', password: 'env:KEY' },
        },
        headerTarget('ws', wsUpstream.url, { websocket: true }),
        headerTarget('down', 'http://127.0.0.1:1'),
      ],
    });
    token = await escrow.token();
    task = await escrow.openTask(token, ['hdr', 'cookies', 'qry', 'basic', 'ws', 'down']);
    await exerciseEverything();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    await other?.close();
    await wsUpstream?.close();
  });

  const request = async (head: string, body = '') => {
    const res = await rawExchange(escrow.port, `${head}\r\n\r\n${body}`, 3_000);
    seenByAgent.push(res.raw);
    return res;
  };
  const auth = () => `Authorization: Bearer ${token}\r\nX-Escrow-Task: ${task}\r\nConnection: close`;

  async function exerciseEverything() {
    for (const target of ['hdr', 'cookies', 'qry', 'basic']) {
      for (const path of PATHS) await request(`GET /${target}${path} HTTP/1.1\r\nHost: x\r\n${auth()}`);
      await request(`POST /${target}/echo HTTP/1.1\r\nHost: x\r\n${auth()}\r\nContent-Length: 5`, 'hello');
    }
    // Failures of every kind, each carrying the token in its raw bytes.
    await request(`GET /hdr/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}x\r\nConnection: close`);
    await request(`GET /nope/x HTTP/1.1\r\nHost: x\r\n${auth()}`);
    await request(`GET /hdr/%2e%2e/x HTTP/1.1\r\nHost: x\r\n${auth()}`);
    await request(`GET /hdr/x HTTP/1.1\r\nHost: x\r\n${auth()}\r\nBad Header: ${token}`);
    await request(`GET /hdr/x HTTP/1.1\r\nHost: x\r\n${auth()}\r\nX-Big: ${'a'.repeat(20_000)}`);
    await request(
      `POST /hdr/x HTTP/1.1\r\nHost: x\r\n${auth()}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked`,
      '0\r\n\r\n',
    );
    await request(`GET /down/x HTTP/1.1\r\nHost: x\r\n${auth()}`);
    await request(`TRACE /hdr/x HTTP/1.1\r\nHost: x\r\n${auth()}`);
    const ws = await openWebSocket(escrow.port, '/ws/leak', {
      authorization: `Bearer ${token}`,
      'x-escrow-task': task,
    });
    await ws.waitMessages(1);
    ws.send('bye');
    await ws.waitMessages(2);
    ws.close();
    await ws.closed;
    seenByAgent.push(ws.received());
    const refused = await openWebSocket(escrow.port, '/ws/refuse', {
      authorization: `Bearer ${token}`,
      'x-escrow-task': task,
    });
    await refused.closed;
    seenByAgent.push(refused.received());
  }

  const forms = () => canaryForms(CANARY, [`svc:${CANARY}`]);

  it('reached the upstream with the key on every path (the exercise was real)', () => {
    expect(upstream.requests.length).toBeGreaterThanOrEqual(PATHS.length * 4);
    expect(
      upstream.requests.some((r) => JSON.stringify(r).includes(CANARY) || r.url.includes(encodeURIComponent(CANARY))),
    ).toBe(true);
    expect(seenByAgent.join('\n')).toContain('*'.repeat(CANARY.length));
  });

  it('shows the agent no form of the key, and never echoes its token back from the upstream', () => {
    const everything = seenByAgent.join('\n');
    expect(findLeak(everything, forms())).toBeUndefined();
    for (const res of seenByAgent) expect(res.includes(token) && !res.includes('Bad Header')).toBe(false);
  });

  it('sends nothing to the origin of a cross-origin redirect', () => {
    expect(other.requests).toEqual([]);
  });

  it('writes no form of the key or the token in any log line', () => {
    const logs = escrow.logs();
    expect(logs.length).toBeGreaterThan(0);
    expect(findLeak(logs, canaryForms(CANARY, [`svc:${CANARY}`, token]))).toBeUndefined();
  });

  it('exposes neither in /metrics', async () => {
    const metrics = await escrow.metrics();
    expect(metrics).toContain('escrow_requests_total');
    expect(findLeak(metrics, canaryForms(CANARY, [token]))).toBeUndefined();
  });

  it('audits without them, and keeps the key only encrypted in Redis', async () => {
    expect(findLeak(await escrow.audit(), canaryForms(CANARY, [`svc:${CANARY}`, token]))).toBeUndefined();
    const dump = await dumpPrefix(escrow.prefix);
    expect(dump).toContain('lease');
    expect(findLeak(dump, canaryForms(CANARY, [token]))).toBeUndefined();
  });
});
