import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { echoHandler, type RecordedRequest, startUpstream, type TestUpstream } from '../../support/upstream.js';

/**
 * The worst upstream for leaks: every route hands the credential it received (from `x-api-key`,
 * `authorization` or the `api_key` query parameter) back to the agent in a different way.
 */
export function startLeakyUpstream(otherOrigin: string): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    const key = credentialOf(req);
    const path = req.url.split('?', 1)[0]!.replace(/^\/base/, '');
    const echo = JSON.stringify({ url: req.url, headers: req.headers, body: req.body.toString() });
    switch (path) {
      case '/gzip':
      case '/x-gzip':
      case '/deflate':
      case '/br': {
        const body =
          path === '/br' ? brotliCompressSync(echo) : path === '/deflate' ? deflateSync(echo) : gzipSync(echo);
        res.writeHead(200, { 'content-encoding': path.slice(1), 'content-length': body.length });
        res.end(body);
        return;
      }
      case '/compress':
        res.writeHead(200, { 'content-encoding': 'compress' });
        res.end(echo);
        return;
      case '/gzip-twice':
        res.writeHead(200, { 'content-encoding': 'gzip, gzip' });
        res.end(gzipSync(gzipSync(echo)));
        return;
      case '/headers':
        res.setHeader('set-cookie', [`session=${key}; HttpOnly`, 'plain=1']);
        res.setHeader('www-authenticate', `Basic realm="${key}"`);
        res.setHeader('x-echo-key', key);
        res.setHeader('x-echo-b64', Buffer.from(key).toString('base64'));
        res.setHeader('x-echo-url', encodeURIComponent(key));
        res.setHeader('connection', 'x-hidden');
        res.setHeader('x-hidden', 'hop');
        res.end('ok');
        return;
      case '/b64':
        res.end(Buffer.from(`{"seen":${echo}}`).toString('base64'));
        return;
      case '/urlencoded':
        res.end(`${new URLSearchParams({ k: key })}&lower=${encodeURIComponent(key).toLowerCase()}`);
        return;
      case '/redirect-cross': {
        const k = encodeURIComponent(key);
        res.writeHead(302, { location: `http://user:${k}@${new URL(otherOrigin).host}/cb?k=${k}&raw=${key}` });
        res.end();
        return;
      }
      case '/redirect-same':
        res.writeHead(307, { location: '/base/next?page=2' });
        res.end();
        return;
      case '/redirect-same-absolute':
        res.writeHead(301, { location: `http://${req.headers.host}/base/moved` });
        res.end();
        return;
      case '/error':
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`upstream failed with key ${key}`);
        return;
      case '/trailers':
        res.writeHead(200, { trailer: 'x-key' });
        res.write('body');
        res.addTrailers({ 'x-key': key });
        res.end();
        return;
      case '/split':
        splitAcrossChunks(res, key);
        return;
      case '/sse':
        streamEvents(res, key);
        return;
      default:
        echoHandler(req, res);
    }
  });
}

function credentialOf(req: RecordedRequest): string {
  const header = req.headers['x-api-key'] ?? req.headers.authorization;
  if (typeof header === 'string') return header;
  return new URL(req.url, 'http://x').searchParams.get('api_key') ?? '';
}

type Res = Parameters<Parameters<typeof startUpstream>[0] & object>[1];

/** The key split over two writes, at every position, with a pause between writes. */
function splitAcrossChunks(res: Res, key: string): void {
  res.writeHead(200, { 'content-type': 'text/plain' });
  const cut = Math.floor(key.length / 2);
  res.write(`before ${key.slice(0, cut)}`);
  setTimeout(() => res.end(`${key.slice(cut)} after`), 30);
}

/** One event at once, then a second whose key is split over two chunks, then the end after a pause. */
function streamEvents(res: Res, key: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.write('data: first\n\n');
  const cut = Math.floor(key.length / 3);
  setTimeout(() => res.write(`data: key=${key.slice(0, cut)}`), 150);
  setTimeout(() => res.write(`${key.slice(cut)}\n\n`), 200);
  setTimeout(() => res.end('data: last\n\n'), 400);
}
