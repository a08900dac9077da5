import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';

/** An HTTP server on port 0 whose every request is counted (by method) before `handler` runs. */
export interface FaultUpstream {
  readonly url: string;
  readonly port: number;
  /** Requests received, by method (`POST` → 1 proves a POST was not retried). */
  readonly counts: Map<string, number>;
  total(): number;
  close(): Promise<void>;
}

export async function startFaultUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<FaultUpstream> {
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    counts.set(req.method ?? '', (counts.get(req.method ?? '') ?? 0) + 1);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers 200 with headers at once, sends half the body, then resets the connection. */
export const resetMidBody = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
  res.write('x'.repeat(1000), () => setTimeout(() => res.socket?.resetAndDestroy(), 20));
};

/** Sends headers only after `ms`. */
export const slowHeaders = (ms: number) => (_req: IncomingMessage, res: ServerResponse) => {
  const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('late'), ms);
  res.on('close', () => clearTimeout(timer));
};

/** Sends headers and a first chunk at once, then nothing for `ms`. */
export const slowBody = (ms: number) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write('first chunk ');
  const timer = setTimeout(() => res.end('last chunk'), ms);
  res.on('close', () => clearTimeout(timer));
};

/** Accepts the connection, reads the request and never answers. */
export const neverAnswers = (_req: IncomingMessage, _res: ServerResponse) => {};

/** A port nothing listens on (bound, then closed). */
export async function refusedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A port whose SYNs go unanswered: a child process listens with a backlog of 0 and then blocks its event loop,
 * so it never accepts; once the kernel's accept queue is filled, new connections hang (a black-holed host).
 */
export async function blackHole(): Promise<{ port: number; close(): void }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 0 }, () => {
         console.log(s.address().port);
         setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000), 20);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const port = await new Promise<number>((resolve) =>
    child.stdout?.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
  );
  await new Promise((resolve) => setTimeout(resolve, 100)); // let it block before filling its queue
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
  await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    port,
    close() {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
    },
  };
}
