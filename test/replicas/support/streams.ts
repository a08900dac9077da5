import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';

/** The upstream side of one long-lived exchange, as the upstream saw it. */
export interface UpstreamStream {
  readonly kind: 'sse' | 'upload' | 'ws';
  /** The request id Escrow sent (`x-request-id`), to find it again. */
  readonly requestId: string;
  /** `performance.now()` when the upstream saw its connection close. */
  closedAt?: number;
}

export interface StreamsUpstream {
  readonly url: string;
  readonly streams: UpstreamStream[];
  close(): Promise<void>;
}

/**
 * An upstream with three kinds of exchange that never end by themselves: `GET /sse` (server-sent events, one every
 * 20 ms), `POST /upload` (a streaming request body it reads without ever answering), and a WebSocket echo on any
 * path. Records when each one's connection closes, to prove that a cut reaches the upstream too.
 */
export async function startStreamsUpstream(): Promise<StreamsUpstream> {
  const streams: UpstreamStream[] = [];
  const sockets = new Set<Duplex>();
  const track = (kind: UpstreamStream['kind'], req: IncomingMessage, socket: Duplex) => {
    const stream: UpstreamStream = { kind, requestId: String(req.headers['x-request-id'] ?? '') };
    streams.push(stream);
    sockets.add(socket);
    // Escrow's end of the connection going away: a FIN ('end', the server allows half-open sockets) or a reset.
    const gone = () => {
      stream.closedAt ??= performance.now();
      sockets.delete(socket);
      socket.destroy();
    };
    socket.once('end', gone).once('close', gone);
  };
  const server: Server = createServer((req, res) => {
    if (req.url === '/sse') {
      track('sse', req, req.socket);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      const tick = setInterval(() => res.write('data: tick\n\n'), 20);
      res.write('data: first\n\n');
      res.once('close', () => clearInterval(tick));
      return;
    }
    if (req.url === '/upload') {
      track('upload', req, req.socket);
      req.resume(); // read forever, never answer
      return;
    }
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    track('ws', req, socket);
    socket.on('error', () => {});
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => {
        if (!isBinary) ws.send(`echo:${String(data)}`);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    streams,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
