/**
 * WebSocket peers for behaviour tests, built on the `ws` library so that Escrow's RFC 6455 handling is checked
 * against a maintained implementation on both sides (a hand-written peer could misread the RFC the same way Escrow
 * does). Tests that must send or inspect exact frames (the frame scrubber, the oracle probes) use the raw codec in
 * test/security/support/ws.ts instead.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

export interface WsUpstream {
  readonly url: string;
  /** The upgrade requests it received. */
  readonly upgrades: IncomingMessage[];
  close(): Promise<void>;
}

const keyOf = (req: IncomingMessage) => String(req.headers['x-api-key'] ?? '');

/**
 * A WebSocket upstream that echoes text messages as `echo:<text>` and answers the agent's close with the credential
 * it received as the close reason. It sends the credential in its 101 as `x-echo-key`; on `/leak` it first sends
 * `key=<credential>;` split over two fragments with a ping between them; `/refuse` answers 401 with the credential in
 * the body and a cookie; `/deflate` agrees to permessage-deflate although nobody offered it.
 */
export async function startWsUpstream(): Promise<WsUpstream> {
  const upgrades: IncomingMessage[] = [];
  const sockets = new Set<Duplex>();
  const server = createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  wss.on('headers', (headers, req) => {
    headers.push(`x-echo-key: ${keyOf(req)}`);
    if (req.url?.startsWith('/deflate')) headers.push('sec-websocket-extensions: permessage-deflate');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades.push(req);
    sockets.add(socket);
    socket.on('error', () => {});
    const key = keyOf(req);
    if (req.url?.startsWith('/refuse')) {
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\nset-cookie: s=${key}\r\n\r\nbad key ${key}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, req.url ?? '/', key));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    upgrades,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

function serve(ws: WebSocket, url: string, key: string): void {
  // ws answers a received close frame by calling close(code, reason) with the agent's reason: put the key there.
  const close = ws.close.bind(ws);
  ws.close = (code?: number) => close(code, key);
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (!isBinary) ws.send(`echo:${String(data)}`);
  });
  if (url.startsWith('/leak')) {
    const cut = Math.floor(key.length / 2);
    ws.send(`key=${key.slice(0, cut)}`, { fin: false });
    ws.ping('ping');
    // A later write, so the second fragment reaches Escrow in a chunk of its own.
    setTimeout(() => ws.send(`${key.slice(cut)};`, { fin: true }), 20);
  }
}

export interface WsPeer {
  /** 101 once open, otherwise the status Escrow answered the upgrade with. */
  readonly status: number;
  /** The headers of that answer. */
  readonly headers: IncomingHttpHeaders;
  /** The body of a non-101 answer (complete once `closed` resolves). */
  body(): string;
  /** Text of every data message received, in order. */
  readonly messages: readonly string[];
  /** Payloads of the pings received. */
  readonly pings: readonly Buffer[];
  send(text: string): void;
  close(code?: number): void;
  /** Drop the connection at once, without a close handshake. */
  terminate(): void;
  /** Resolves with `messages` once `n` have arrived; rejects after `timeoutMs`. */
  waitMessages(n: number, timeoutMs?: number): Promise<readonly string[]>;
  /** Resolves when the connection is gone, with the close frame's code and reason (1006 and '' without one). */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Everything the agent received, decoded: headers, body, messages, pings and close reason (for leak checks). */
  received(): string;
}

/**
 * Open a WebSocket to Escrow on `port` with the `ws` client, sending `headers` (and a permessage-deflate offer when
 * `offerDeflate`). Resolves on the 101, or on any other answer with its status and body; rejects when `ws` finds
 * the handshake invalid (a bad `Sec-WebSocket-Accept`, an extension it did not offer).
 */
export function openWebSocket(
  port: number,
  path: string,
  headers: Record<string, string>,
  options: { offerDeflate?: boolean } = {},
): Promise<WsPeer> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, {
    headers,
    perMessageDeflate: options.offerDeflate ?? false,
    followRedirects: false,
  });
  const messages: string[] = [];
  const pings: Buffer[] = [];
  const arrivals = new Set<() => void>();
  let answer: { status: number; headers: IncomingHttpHeaders } = { status: 0, headers: {} };
  let body = '';
  let reason = '';
  let settled = false;
  let closeWith: (close: { code: number; reason: string }) => void = () => {};
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    closeWith = resolve;
  });
  const peer: WsPeer = {
    get status() {
      return answer.status;
    },
    get headers() {
      return answer.headers;
    },
    body: () => body,
    messages,
    pings,
    send: (text) => ws.send(text),
    close: (code = 1000) => ws.close(code),
    terminate: () => ws.terminate(),
    waitMessages: (n, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < n) return;
          clearTimeout(timer);
          arrivals.delete(check);
          resolve(messages);
        };
        const timer = setTimeout(() => {
          arrivals.delete(check);
          reject(new Error(`only ${messages.length} of ${n} messages arrived`));
        }, timeoutMs);
        arrivals.add(check);
        check();
      }),
    closed,
    received: () =>
      [JSON.stringify(answer.headers), body, ...messages, ...pings.map((p) => p.toString('latin1')), reason].join('\n'),
  };
  const arrived = () => {
    for (const check of [...arrivals]) check();
  };
  ws.on('message', (data, isBinary) => {
    messages.push(isBinary ? Buffer.from(data as Buffer).toString('latin1') : String(data));
    arrived();
  });
  ws.on('ping', (data) => {
    pings.push(data);
    arrived();
  });
  return new Promise((resolve, reject) => {
    ws.on('upgrade', (res) => {
      answer = { status: res.statusCode ?? 0, headers: res.headers };
    });
    ws.on('open', () => {
      settled = true;
      resolve(peer);
    });
    ws.on('unexpected-response', (_req, res) => {
      answer = { status: res.statusCode ?? 0, headers: res.headers };
      settled = true;
      resolve(peer);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('close', () => {
        closeWith({ code: 1006, reason: '' });
        ws.terminate();
      });
    });
    ws.on('close', (code, why) => {
      reason = why.toString();
      closeWith({ code, reason });
    });
    ws.on('error', (error) => {
      if (!settled) reject(error);
    });
  });
}
