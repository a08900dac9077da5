import { createServer, type Server } from 'node:http';

/**
 * The demo upstream of the embedded default: a legacy API that insists on `x-api-key` and, carelessly,
 * echoes the request back (headers included) — so the dev setup shows the key being injected upstream and
 * scrubbed from what the agent sees.
 */
export function startDemoUpstream(port: number, host = '127.0.0.1', apiKeys: readonly string[] = []): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['x-api-key'] ?? req.headers.authorization;
      const authorized = apiKeys.length === 0 || apiKeys.includes(String(key ?? ''));
      const body = JSON.stringify(
        {
          upstream: 'demo',
          authorized,
          method: req.method,
          path: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        },
        null,
        2,
      );
      res.writeHead(authorized ? 200 : 401, { 'content-type': 'application/json' });
      res.end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
