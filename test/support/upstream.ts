import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

export interface TestUpstream {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  readonly server: Server;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: RecordedRequest, res: ServerResponse) => void;

/** By default the upstream echoes the request back as JSON, headers included (the worst case for leaks). */
export const echoHandler: UpstreamHandler = (req, res) => {
  const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: req.body.toString() });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

/** A real HTTP upstream on port 0 that records every request it receives. */
export async function startUpstream(handler: UpstreamHandler = echoHandler): Promise<TestUpstream> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
      };
      requests.push(recorded);
      handler(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The `echo` target most tests configure: a low-sensitivity dev target at `upstream` whose credential is `value`
 * (a secret reference such as `env:KEY`) injected as the header `x-api-key`.
 */
export function echoTarget(
  upstream: string,
  value: string,
  options: { readonly ttl?: number; readonly requireTask?: boolean } = {},
): Record<string, unknown> {
  return {
    name: 'echo',
    upstream,
    ...(options.requireTask === undefined ? {} : { requireTask: options.requireTask }),
    attributes: { sensitivity: 'low', environment: 'dev' },
    credential: { adapter: 'header', header: 'x-api-key', value, ttl: options.ttl ?? 300 },
  };
}
